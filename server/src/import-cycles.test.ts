import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

type ImportGraph = Map<string, string[]>;

/** Relative imports of one file (static, type-only, re-exports and dynamic), resolved to paths. */
function importsOf(file: string, text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => resolve(dirname(file), name.replace(/\.js$/, '.ts')));
}

function importGraph(root: string): ImportGraph {
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(root, f));
  return new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));
}

/** Strongly connected components with more than one module, or a module importing itself. */
function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('the import graph of server/src', () => {
  const graph = importGraph(SRC);

  it('resolves every relative import to a file, so no edge is missed', () => {
    const unresolved = [...graph].flatMap(([file, deps]) =>
      deps.filter((d) => !existsSync(d)).map((d) => `${relative(SRC, file)} -> ${d}`),
    );
    expect(graph.size).toBeGreaterThan(50);
    expect(unresolved).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    const cycles = findCycles(graph).map((c) => c.map((f) => relative(SRC, f)));
    expect(cycles).toEqual([]);
  });
});

describe('findCycles', () => {
  it('finds a two-module cycle through a type-only import and a lazy import', () => {
    const graph = new Map(
      Object.entries({
        '/s/run.ts': importsOf('/s/run.ts', "import { a } from './commands/a.js';"),
        '/s/commands/a.ts': importsOf(
          '/s/commands/a.ts',
          "import type { CliRun } from '../run.js';\nconst b = () => import('./b.js');",
        ),
        '/s/commands/b.ts': importsOf('/s/commands/b.ts', "export { x } from './a.js';"),
        '/s/leaf.ts': [],
      }),
    );
    expect(findCycles(graph)).toEqual([['/s/commands/a.ts', '/s/commands/b.ts', '/s/run.ts']]);
  });

  it('finds none in a tree', () => {
    const graph = new Map(
      Object.entries({
        '/s/a.ts': importsOf('/s/a.ts', "import './b.js';\nimport type { C } from './c.js';"),
        '/s/b.ts': importsOf('/s/b.ts', "import type { C } from './c.js';"),
        '/s/c.ts': [],
      }),
    );
    expect(findCycles(graph)).toEqual([]);
  });
});
