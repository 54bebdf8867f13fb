/**
 * What the agent loads when it starts: the static imports of src/main.ts, followed through this
 * package and the @tufchain packages' subpath entry points (their `@tufchain/source` condition).
 * Type-only imports are erased and `await import()` loads on demand, so neither counts; `require`
 * does. A vehicle has a memory budget (96 MiB peak RSS, see README "Benchmark"), and the packages'
 * indexes carry server, CA and auditor code the agent never runs.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Graph {
  /** Source files reached, relative to the repository root. */
  files: Set<string>;
  /** Specifiers of everything else reached: node: built-ins and third-party packages. */
  external: Set<string>;
}

/** The source file a `@tufchain/...` specifier names (its `@tufchain/source` export). */
function workspaceEntry(specifier: string): string {
  const [, pkg = '', subpath] = /^@tufchain\/([^/]+)(\/.+)?$/.exec(specifier) ?? [];
  const manifest = JSON.parse(readFileSync(join(root, pkg, 'package.json'), 'utf8')) as {
    exports: Record<string, Record<string, string> | undefined>;
  };
  const target = manifest.exports[subpath ? `.${subpath}` : '.']?.['@tufchain/source'];
  if (!target) throw new Error(`${specifier} is not exported`);
  return join(root, pkg, target);
}

function loadedSpecifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2023);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) {
      out.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
      out.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire =
        (ts.isIdentifier(callee) && callee.text === 'require') ||
        (ts.isCallExpression(callee) &&
          ts.isIdentifier(callee.expression) &&
          callee.expression.text === 'createRequire');
      const arg = node.arguments[0];
      if (isRequire && arg && ts.isStringLiteral(arg)) out.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function staticGraph(entry: string): Graph {
  const graph: Graph = { files: new Set(), external: new Set() };
  const todo = [entry];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    const rel = file.slice(root.length + 1);
    if (graph.files.has(rel)) continue;
    graph.files.add(rel);
    for (const spec of loadedSpecifiers(file)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (spec.startsWith('@tufchain/')) todo.push(workspaceEntry(spec));
      else graph.external.add(spec);
    }
  }
  return graph;
}

/** Libraries only the CA, the server, the auditor or the CLIs need (~23 MiB of heap in all). */
const NOT_FOR_THE_VEHICLE = [
  'node-forge', // the index; the PKCS#12 reader needs only node-forge/lib/asn1
  '@sigstore/sign', // the index with its Fulcio/Rekor/TSA clients; DSSE signing is in its bundler
  '@peculiar/x509',
  'reflect-metadata',
  'node:sqlite',
  'undici', // the index, with every dispatcher, mock, cache store and fetch: src/util/undici.ts
];

/** Package modules of the CA, the OEM tools, the log server and the auditor. */
const SERVER_SIDE = [
  'keys/src/index.ts',
  'keys/src/vehicle/ca.ts',
  'keys/src/vehicle/csr.ts',
  'keys/src/vehicle/revocation.ts',
  'keys/src/vehicle/x509-provider.ts',
  'keys/src/attestation/sigstore-services.ts',
  'keys/src/ceremony/',
  'keys/src/cli/',
  'transparency/src/index.ts',
  'transparency/src/log/sqlite.ts',
  'transparency/src/log/storage.ts',
  'transparency/src/log/transparency-log.ts',
  'transparency/src/log/log-service.ts',
  'transparency/src/audit/',
  'transparency/src/anchor/',
];

function expectVehicleSized({ files, external }: Graph): void {
  expect([...files].filter((f) => SERVER_SIDE.some((m) => f.startsWith(m)))).toEqual([]);
  expect([...external].filter((s) => NOT_FOR_THE_VEHICLE.includes(s))).toEqual([]);
}

describe('what the agent loads at start', () => {
  it('src/main.ts reaches no package index and no server-side module', () => {
    const graph = staticGraph(join(root, 'client-agent/src/main.ts'));
    expectVehicleSized(graph);
    expect([...graph.external].filter((s) => s.startsWith('node-forge/')).sort()).toEqual([
      'node-forge/lib/asn1',
      'node-forge/lib/forge',
    ]);
    expect([...graph.external].filter((s) => s.startsWith('undici')).sort()).toEqual([
      'undici/lib/api/index.js',
      'undici/lib/core/errors.js',
      'undici/lib/dispatcher/agent.js',
      'undici/lib/dispatcher/dispatcher.js',
      'undici/lib/global.js',
    ]);
  });

  it.each([
    'keys/vehicle',
    'keys/attestation',
    'transparency/chain',
    'transparency/wire',
    'transparency/proof-bundle',
    'transparency/offline-bundle',
    'transparency/delta',
  ])('@tufchain/%s stays vehicle-sized', (subpath) => {
    expectVehicleSized(staticGraph(workspaceEntry(`@tufchain/${subpath}`)));
  });

  it('the walk sees what the package indexes load', () => {
    const keys = staticGraph(workspaceEntry('@tufchain/keys'));
    expect(keys.external).toContain('@peculiar/x509');
    expect(keys.external).toContain('@sigstore/sign');
    expect(staticGraph(workspaceEntry('@tufchain/transparency')).external).toContain('node:sqlite');
  });
});
