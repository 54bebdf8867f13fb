/**
 * The boundaries between the workspaces, read from the sources: a test never reaches into another
 * package's test directory (shared test tooling lives in '@tufchain/contracts/dev'), and what a
 * package imports at run time is in its `dependencies`, which hold no dev tooling, so that a
 * production install (the vehicle's) stays lean. bench:agent-install measures that install.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKSPACES = ['keys', 'contracts', 'transparency', 'server', 'client-agent'] as const;
/** Packages that only build, test or run a dev chain: never in a package's `dependencies`. */
const DEV_TOOLING = [
  '@foundry-rs/anvil',
  'solc',
  'testcontainers',
  'tsx',
  'typescript',
  'vitest',
  'fast-check',
];
const SOURCE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;

interface SourceFile {
  /** Relative to the repository root, with '/' separators. */
  path: string;
  text: string;
}

/** Module specifiers of static imports, re-exports, side-effect imports and import() calls. */
export function importSpecifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s*['"]([^'"\s]+)['"]/g,
    /\bimport\s*['"]([^'"\s]+)['"]/g,
    /\bimport\(\s*['"]([^'"\s]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const m of text.matchAll(pattern)) if (m[1]) found.push(m[1]);
  }
  return found;
}

/** The part a file belongs to: a workspace folder, or 'test' for the root's cross-part tests. */
function partOf(path: string): string {
  return path.split('/')[0] ?? '';
}

/** Imports that reach into another part's test directory: `<part>/test/...`. */
export function crossPartTestImports(files: SourceFile[]): string[] {
  const offences: string[] = [];
  for (const file of files) {
    const own = partOf(file.path);
    for (const spec of importSpecifiers(file.text)) {
      let target: string | undefined;
      if (spec.startsWith('.')) {
        target = relative(root, resolve(root, dirname(file.path), spec))
          .split(sep)
          .join('/');
      } else {
        const m = /^@tufchain\/([^/]+)\/(.+)$/.exec(spec);
        if (m) target = `${m[1] ?? ''}/${m[2] ?? ''}`;
      }
      if (!target) continue;
      const [part, dir] = target.split('/');
      const isTestDir = part === 'test' ? true : dir === 'test';
      if (isTestDir && part !== own) offences.push(`${file.path} imports ${spec}`);
    }
  }
  return offences;
}

function walk(dir: string, into: SourceFile[]): SourceFile[] {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) {
      continue;
    }
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) walk(path, into);
    else if (SOURCE.test(entry.name))
      into.push({ path, text: readFileSync(join(root, path), 'utf8') });
  }
  return into;
}

function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : (parts[0] ?? '');
}

const isTestFile = (path: string) => /\.test\.[cm]?[jt]s$/.test(path);
/** The dev entry of contracts and the modules behind it: allowed to use dev tooling. */
const isDevTooling = (path: string) =>
  path.startsWith('contracts/src/dev/') || path === 'contracts/src/entry/dev.ts';

describe('crossPartTestImports', () => {
  const cases: { desc: string; file: SourceFile; want: number }[] = [
    {
      desc: "a relative import of another package's test helper",
      file: {
        path: 'server/test/log.int.test.ts',
        text: "import { startRpcProxy } from '../../transparency/test/helpers/rpc-proxy.js';",
      },
      want: 1,
    },
    {
      desc: "a dynamic import of the root e2e tests' helpers from a package",
      file: {
        path: 'client-agent/test/x.test.ts',
        text: "await import('../../test/e2e/hacker.js');",
      },
      want: 1,
    },
    {
      desc: "a package-name import of another package's test directory",
      file: {
        path: 'test/e2e/x.test.ts',
        text: "import { Fixture } from '@tufchain/client-agent/test/helpers/fixture.js';",
      },
      want: 1,
    },
    {
      desc: 'its own helpers, another package and the shared dev entry',
      file: {
        path: 'server/test/x.test.ts',
        text: [
          "import { startTestChain } from './support/chain.js';",
          "import { ChainReader } from '@tufchain/transparency';",
          "import { startRpcProxy } from '@tufchain/contracts/dev';",
          "import { forge } from '../src/util/forge.js';",
        ].join('\n'),
      },
      want: 0,
    },
  ];
  for (const c of cases) {
    it(`${c.want ? 'flags' : 'allows'} ${c.desc}`, () => {
      expect(crossPartTestImports([c.file])).toHaveLength(c.want);
    });
  }
});

describe('the workspaces', () => {
  const self = relative(root, fileURLToPath(import.meta.url))
    .split(sep)
    .join('/');
  // This file is left out: its table above holds offending imports as text.
  const files = [...WORKSPACES, 'test']
    .flatMap((dir) => walk(dir, []))
    .filter((f) => f.path !== self);

  it("never import another package's test directory", () => {
    expect(files.length).toBeGreaterThan(100);
    expect(crossPartTestImports(files)).toEqual([]);
  });

  for (const ws of WORKSPACES) {
    describe(ws, () => {
      const manifest = JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const dependencies = Object.keys(manifest.dependencies ?? {});
      const runtime = files.filter(
        (f) => f.path.startsWith(`${ws}/src/`) && !isTestFile(f.path) && !isDevTooling(f.path),
      );

      it('lists every package its runtime code imports in dependencies', () => {
        expect(runtime.length).toBeGreaterThan(0);
        const undeclared = runtime.flatMap((f) =>
          importSpecifiers(f.text)
            .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
            .map(packageOf)
            .filter((name) => !dependencies.includes(name))
            .map((name) => `${f.path}: ${name}`),
        );
        expect(undeclared).toEqual([]);
      });

      it('has no dev tooling in dependencies', () => {
        expect(dependencies.filter((d) => DEV_TOOLING.includes(d))).toEqual([]);
      });

      it('does not load @tufchain/contracts/dev from runtime code', () => {
        const offences = runtime.flatMap((f) =>
          importSpecifiers(f.text)
            .filter((s) => s === '@tufchain/contracts/dev' || /(^|\/)dev\/[^/]+\.js$/.test(s))
            .map((s) => `${f.path}: ${s}`),
        );
        expect(offences).toEqual([]);
      });
    });
  }
});
