/**
 * bench:agent-memory — where the agent's resident memory goes, step by step (issue 19): runs
 * bench/memory-breakdown.mjs under the pinned Node with the V8 flags bin/tufchain-agent gives the
 * agent (read from the bin itself, so the two cannot drift) over the compiled dist/, ROUNDS times
 * (TUFCHAIN_BENCH_ROUNDS, default 3), and prints a markdown table of the median RSS each step
 * added. Writes bench/results/agent-memory.json at the repository root.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Step {
  step: string;
  rssMiB: number;
  heapUsedMiB: number;
  codeMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const node = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
const rounds = Number(process.env['TUFCHAIN_BENCH_ROUNDS'] ?? 3);

const bin = await readFile(join(here, '..', 'bin', 'tufchain-agent'), 'utf8');
const quoted = /^v8flags='([^']*)'/m.exec(bin);
if (!quoted) throw new Error('bin/tufchain-agent no longer sets v8flags; update this bench');
const flags = (quoted[1] as string).split(/\s+/).filter(Boolean);

const runs: Step[][] = [];
for (let i = 0; i < rounds; i++) {
  const out = execFileSync(node, [...flags, join(here, 'memory-breakdown.mjs')], {
    cwd: join(here, '..'),
    encoding: 'utf8',
  });
  runs.push((JSON.parse(out) as { steps: Step[] }).steps);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const first = runs[0] as Step[];
const rows = first.map((s, i) => {
  const at = (f: (x: Step) => number) => median(runs.map((r) => f(r[i] as Step)));
  const before = i === 0 ? 0 : median(runs.map((r) => (r[i - 1] as Step).rssMiB));
  return {
    step: s.step,
    rssMiB: Number(at((x) => x.rssMiB).toFixed(1)),
    addedMiB: Number((at((x) => x.rssMiB) - before).toFixed(1)),
    heapUsedMiB: Number(at((x) => x.heapUsedMiB).toFixed(1)),
    externalMiB: Number(at((x) => x.externalMiB).toFixed(1)),
  };
});

const table = [
  '| step (loaded in this order) | RSS after | added | V8 heap used | outside the heap (external) |',
  '|---|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.step} | ${r.rssMiB.toFixed(1)} MiB | ${r.addedMiB.toFixed(1)} MiB | ${r.heapUsedMiB.toFixed(1)} MiB | ${r.externalMiB.toFixed(1)} MiB |`,
  ),
].join('\n');
console.log(`\nmedians of ${rounds} runs, V8 flags of bin/tufchain-agent: ${flags.join(' ')}\n`);
console.log(table);

const resultsDir = join(repoRoot, 'bench', 'results');
await mkdir(resultsDir, { recursive: true });
const file = join(resultsDir, 'agent-memory.json');
await writeFile(
  file,
  `${JSON.stringify({ measuredAt: new Date().toISOString(), rounds, flags, steps: rows }, null, 2)}\n`,
);
console.log(`\nwrote ${file}`);
