/**
 * bench:delta — tufchain's delta (@tufchain/transparency/delta) on image pairs that look like
 * firmware (bench/delta-images.ts), in one run:
 *
 * - bytes over the network: our delta against `zstd --patch-from` and `xdelta3` on the same pair
 *   (Debian packages `zstd`, `xdelta3`; a missing tool is reported as missing, not guessed);
 * - time to a verified slot: the agent's delta install (download the delta from a loopback server
 *   process, pread COPYs from slot A, write slot B, sha256 + sha512 read-back against the full
 *   image's hashes) against the full-update floor of bench:agent for the target image,
 *   `curl -s URL | tee slot | openssl dgst -sha256`, paired per round, after a `sync`;
 * - peak RSS (VmHWM) of the process that applies the delta, run with bin/tufchain-agent's Node
 *   flags on the compiled dist/. That process runs the install only;
 * - then (unless TUFCHAIN_BENCH_DELTA_AGENT=0) the whole agent, bin/tufchain-agent run-once, with
 *   and without the delta listed in TUF: its update cycle and peak RSS (bench/delta-agent.ts).
 *
 * Prints a markdown table and writes bench/results/delta.json (deltaBytesRatio: worst pair of our
 * bytes / the better tool's; deltaApplyRatio: worst pair of median delta install / median floor;
 * deltaPeakRssMiB: the whole agent's highest peak with a delta, else the install process's).
 * TUFCHAIN_BENCH_ROUNDS (default 5) paired rounds; TUFCHAIN_BENCH_AGENT_ROUNDS (default 3) whole-agent
 * updates per pair and path, of which the table gives the median cycle and the highest peak RSS.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createDelta } from '@tufchain/transparency/delta';
import { FileSlotStore } from '../src/slots/ab-slots.js';
import { TestChain } from '../test/helpers/chain.js';
import { runWholeAgent, type WholeAgentRun } from './delta-agent.js';
import { buildImagePairs, type ImagePair } from './delta-images.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const node = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
const MiB = 1024 * 1024;
// A floor run varies by ±20% from one to the next here (three processes on two cores): five
// paired rounds keep one slow or fast floor from moving the ratio's medians.
const rounds = Number(process.env['TUFCHAIN_BENCH_ROUNDS'] ?? '5');
// One whole-agent update's peak RSS varies by ~±1 MiB from run to run.
const agentRounds = Number(process.env['TUFCHAIN_BENCH_AGENT_ROUNDS'] ?? '3');
/** bin/tufchain-agent's V8 flags (see that script for why each). */
const AGENT_FLAGS = [
  '--expose-gc',
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--no-opt',
  '--no-maglev',
  '--no-sparkplug',
  '--no-wasm-tier-up',
  '--no-wasm-dynamic-tiering',
  '--wasm-wrapper-tiering-budget=2000000000',
];

const sha = (alg: string, b: Uint8Array): string => createHash(alg).update(b).digest('hex');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function timed(cmd: string, args: string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve({ ms: performance.now() - started, stdout })
        : reject(new Error(`${cmd} exited ${code}: ${stdout}`)),
    );
  });
}

/** Size of the tool's delta, or why there is none. */
async function toolDelta(
  tool: 'zstd' | 'xdelta3',
  base: string,
  target: string,
  out: string,
): Promise<number | string> {
  try {
    await run('sh', ['-c', `command -v ${tool}`]);
  } catch {
    return `${tool} not installed (apt-get install ${tool})`;
  }
  const baseBytes = (await stat(base)).size;
  // Windows large enough to see the whole base, each tool's strongest level.
  const windowLog = Math.max(23, Math.ceil(Math.log2(baseBytes + 1)) + 1);
  if (tool === 'zstd') {
    await run('zstd', [
      '-q',
      '-f',
      '-19',
      `--long=${windowLog}`,
      `--patch-from=${base}`,
      target,
      '-o',
      out,
    ]);
  } else {
    const window = 2 ** Math.ceil(Math.log2(Math.max(baseBytes, MiB)));
    await run('xdelta3', ['-f', '-e', '-9', '-B', String(window), '-s', base, target, out]);
  }
  return (await stat(out)).size;
}

interface ApplyReport {
  ms: number;
  path: string;
  fallback: unknown;
  networkBytes: number;
  maxRssKiB: number;
}

async function applyProbe(dir: string, plan: unknown, install: unknown): Promise<ApplyReport> {
  await run('sync');
  const { stdout } = await timed(node, [
    ...AGENT_FLAGS,
    join(here, 'delta-apply.mjs'),
    dir,
    plan === undefined ? '-' : JSON.stringify(plan),
    JSON.stringify(install),
  ]);
  return JSON.parse(stdout) as ApplyReport;
}

async function startImageServer(
  files: [string, string][],
): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    node,
    [join(here, 'image-server.mjs'), 'http://127.0.0.1:9', ...files.flat()],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`image server exited ${code}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

interface PairResult {
  name: string;
  what: string;
  baseBytes: number;
  targetBytes: number;
  deltaBytes: number;
  generateMs: number;
  zstdPatchFromBytes: number | string;
  xdelta3Bytes: number | string;
  bytesRatio: number | null;
  floorMs: number;
  deltaInstallMs: number;
  fullInstallMs: number;
  applyRatio: number;
  peakRssMiB: number;
  fullPeakRssMiB: number;
  /** The whole agent (bin/tufchain-agent run-once), from the delta and from the full image. */
  agent?: { delta: WholeAgentRun; full: WholeAgentRun };
}

async function benchPair(work: string, pair: ImagePair, url: string): Promise<PairResult> {
  const dir = join(work, pair.name);
  const basePath = join(dir, 'base.img');
  const targetPath = join(dir, 'target.img');
  const started = performance.now();
  const delta = createDelta(pair.base, pair.target);
  const generateMs = performance.now() - started;
  await writeFile(join(dir, 'delta'), delta);
  const zstdBytes = await toolDelta('zstd', basePath, targetPath, join(dir, 'patch.zst'));
  const xdeltaBytes = await toolDelta('xdelta3', basePath, targetPath, join(dir, 'patch.xd3'));
  const tools = [zstdBytes, xdeltaBytes].filter((x): x is number => typeof x === 'number');
  const plan = {
    url: `${url}/${pair.name}/delta`,
    length: delta.length,
    sha256: sha('sha256', delta),
    baseSlot: 'a',
    base: { length: pair.base.length, sha256: sha('sha256', pair.base) },
  };
  const expected = {
    length: pair.target.length,
    sha256: sha('sha256', pair.target),
    sha512: sha('sha512', pair.target),
  };
  const install = { url: `${url}/${pair.name}/target.img`, expected };
  const floorCmd = `curl -s '${install.url}' | tee '${join(dir, 'floor-slot.img')}' | openssl dgst -sha256`;
  await timed('sh', ['-c', floorCmd]); // warms the page cache for both
  const floors: number[] = [];
  const deltas: ApplyReport[] = [];
  const fulls: ApplyReport[] = [];
  for (let round = 0; round < rounds; round++) {
    await run('sync');
    const floor = await timed('sh', ['-c', floorCmd]);
    if (!floor.stdout.includes(expected.sha256)) throw new Error('floor hashed something else');
    floors.push(floor.ms);
    for (const [runs, withDelta] of [
      [deltas, true],
      [fulls, false],
    ] as const) {
      const slotsDir = join(dir, `slots-${round}-${withDelta}`);
      const slots = await FileSlotStore.provision(slotsDir, {
        image: pair.base,
        name: 'fw',
        version: '1',
        releaseCounter: 1,
      });
      const report = await applyProbe(slotsDir, withDelta ? plan : undefined, install);
      if (report.path !== (withDelta ? 'delta' : 'full')) {
        throw new Error(
          `${pair.name}: took the ${report.path} path: ${JSON.stringify(report.fallback)}`,
        );
      }
      if (sha('sha256', await readFile(slots.slotPath('b'))) !== expected.sha256) {
        throw new Error(`${pair.name}: slot b does not hold the target`);
      }
      runs.push(report);
      await rm(slotsDir, { recursive: true, force: true });
    }
  }
  const floorMs = median(floors);
  const deltaInstallMs = median(deltas.map((r) => r.ms));
  return {
    name: pair.name,
    what: pair.what,
    baseBytes: pair.base.length,
    targetBytes: pair.target.length,
    deltaBytes: delta.length,
    generateMs: Math.round(generateMs),
    zstdPatchFromBytes: zstdBytes,
    xdelta3Bytes: xdeltaBytes,
    bytesRatio: tools.length > 0 ? round3(delta.length / Math.min(...tools)) : null,
    floorMs: Math.round(floorMs),
    deltaInstallMs: Math.round(deltaInstallMs),
    fullInstallMs: Math.round(median(fulls.map((r) => r.ms))),
    applyRatio: round3(deltaInstallMs / floorMs),
    peakRssMiB: peakMiB(deltas),
    fullPeakRssMiB: peakMiB(fulls),
  };
}

/** The runs' median cycle and highest peak RSS; the path and bytes must be the same in all. */
function summarizeAgentRuns(runs: WholeAgentRun[]): WholeAgentRun & { runs: number } {
  const first = runs[0] as WholeAgentRun;
  if (runs.some((r) => r.path !== first.path || r.networkBytes !== first.networkBytes)) {
    throw new Error(`whole-agent runs differ: ${JSON.stringify(runs)}`);
  }
  return {
    ...first,
    cycleMs: Math.round(median(runs.map((r) => r.cycleMs))),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    runs: runs.length,
  };
}

const peakMiB = (runs: ApplyReport[]): number =>
  Math.round((Math.max(...runs.map((r) => r.maxRssKiB)) / 1024) * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const kb = (x: number | string): string => (typeof x === 'number' ? (x / 1000).toFixed(1) : 'n/a');

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bench-delta-'));
  try {
    const pairs = await buildImagePairs(work, join(repoRoot, 'node_modules'));
    const files: [string, string][] = [];
    for (const pair of pairs) {
      const dir = join(work, pair.name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'base.img'), pair.base);
      await writeFile(join(dir, 'target.img'), pair.target);
      files.push([`/${pair.name}/target.img`, join(dir, 'target.img')]);
      files.push([`/${pair.name}/delta`, join(dir, 'delta')]);
      await writeFile(join(dir, 'delta'), ''); // the server stats it at start; filled below
    }
    const results: PairResult[] = [];
    // The server learns each file's length at start: deltas are made first, then it starts.
    for (const pair of pairs) {
      await writeFile(join(work, pair.name, 'delta'), createDelta(pair.base, pair.target));
    }
    const server = await startImageServer(files);
    try {
      for (const pair of pairs) results.push(await benchPair(work, pair, server.url));
    } finally {
      server.stop();
    }
    if (process.env['TUFCHAIN_BENCH_DELTA_AGENT'] !== '0') {
      const chain = await TestChain.start();
      try {
        for (const [k, pair] of pairs.entries()) {
          const dir = join(work, pair.name);
          const target = join(dir, 'target.img');
          const delta = await readFile(join(dir, 'delta'));
          const deltaRuns: WholeAgentRun[] = [];
          const fullRuns: WholeAgentRun[] = [];
          for (let round = 0; round < agentRounds; round++) {
            deltaRuns.push(await runWholeAgent(chain, pair, { target, delta }));
            fullRuns.push(await runWholeAgent(chain, pair, { target, delta: undefined }));
          }
          const withDelta = summarizeAgentRuns(deltaRuns);
          const full = summarizeAgentRuns(fullRuns);
          if (withDelta.path !== 'delta' || full.path !== 'full') {
            throw new Error(`${pair.name}: the agent took ${withDelta.path} / ${full.path}`);
          }
          (results[k] as PairResult).agent = { delta: withDelta, full };
        }
      } finally {
        await chain.stop();
      }
    }
    const ratios = results.map((r) => r.bytesRatio).filter((x): x is number => x !== null);
    const summary = {
      deltaBytesRatio: ratios.length > 0 ? Math.max(...ratios) : null,
      deltaApplyRatio: Math.max(...results.map((r) => r.applyRatio)),
      // The whole agent's peak when it was measured, else the install process's.
      deltaPeakRssMiB: Math.max(...results.map((r) => r.agent?.delta.peakRssMiB ?? r.peakRssMiB)),
      installProcessPeakRssMiB: Math.max(...results.map((r) => r.peakRssMiB)),
      goals: { deltaBytesRatio: 1.5, deltaApplyRatio: 1.5, deltaPeakRssMiB: 96 },
      rounds,
      agentRounds,
      pairs: results,
    };
    console.log(
      '| pair | base → target | ours | zstd --patch-from | xdelta3 | bytes ratio | floor | delta install | full install | apply ratio | peak RSS delta / full |',
    );
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.name} | ${(r.baseBytes / MiB).toFixed(1)} → ${(r.targetBytes / MiB).toFixed(1)} MiB | ${kb(r.deltaBytes)} kB | ${kb(r.zstdPatchFromBytes)} kB | ${kb(r.xdelta3Bytes)} kB | ${r.bytesRatio ?? 'n/a'} | ${r.floorMs} ms | ${r.deltaInstallMs} ms | ${r.fullInstallMs} ms | ${r.applyRatio} | ${r.peakRssMiB} / ${r.fullPeakRssMiB} MiB |`,
      );
    }
    if (results.some((r) => r.agent)) {
      console.log(
        '\n| pair | whole agent: cycle delta / full | peak RSS delta / full | network bytes delta / full |',
      );
      console.log('|---|---:|---:|---:|');
      for (const r of results) {
        const a = r.agent;
        if (!a) continue;
        console.log(
          `| ${r.name} | ${a.delta.cycleMs} / ${a.full.cycleMs} ms | ${a.delta.peakRssMiB} / ${a.full.peakRssMiB} MiB | ${a.delta.networkBytes} / ${a.full.networkBytes} |`,
        );
      }
    }
    for (const r of results) {
      for (const t of [r.zstdPatchFromBytes, r.xdelta3Bytes])
        if (typeof t === 'string') console.log(`note: ${t}`);
      console.log(`- ${r.name}: ${r.what} (delta made in ${r.generateMs} ms)`);
    }
    console.log(
      `\ndeltaBytesRatio ${summary.deltaBytesRatio} (goal ≤ 1.5), deltaApplyRatio ${summary.deltaApplyRatio} (goal ≤ 1.5), deltaPeakRssMiB ${summary.deltaPeakRssMiB} (goal ≤ 96)`,
    );
    await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
    await writeFile(
      join(repoRoot, 'bench', 'results', 'delta.json'),
      `${JSON.stringify(summary, null, 2)}\n`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
