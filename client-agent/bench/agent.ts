/**
 * bench:agent — a full verified update (TUF refresh, on-chain check on anvil, attestation, single
 * pass into the slot, read-back, boot, commit, signed report) against the floor
 * `curl -s URL | tee slot | openssl dgst -sha256`, both in the same run, and the agent's peak RSS
 * per image size. Prints a markdown table and writes bench/results/agent.json at the repo root.
 *
 * The agent is bin/tufchain-agent itself (`run-once --config agent.json --json`, the factory
 * settings of test/helpers/agent-cli.ts), so it runs with the bin's Node flags and code: dist/
 * once `npm run build` made it (the package's `bench` script builds first), else the sources
 * under tsx. bench/agent-probe.mjs, loaded into that process, reports its peak RSS and the
 * duration of the update cycle that src/main.ts measures (the ratio uses the cycle: a daemon
 * starts once and then updates; the whole process's wall time, start-up included, is shown too).
 *
 * Timings on a shared dual-core VM swing by ±30% from one run to the next, so each size runs
 * TUFCHAIN_BENCH_ROUNDS (default 5) paired rounds, floor then agent, each against a fresh
 * fixture and agent, with `sync` before each measured command (so neither pays for the other's
 * or the set-up's dirty pages when it fsyncs). The table reports medians: the ratio is the median
 * of the per-round ratios, with its range; peak RSS is the highest of all rounds.
 *
 * The image is served by bench/image-server.mjs, a process of its own (as a real server would not
 * share the vehicle's cores with the bench harness), with the fixture's serving code; it passes
 * every other request through to the fixture. TUFCHAIN_BENCH_IMAGE_SERVER=fixture serves it from
 * the bench process instead, as before, whose garbage collector then competes for the cores.
 *
 * It also measures the agent's production install (`agentInstallMiB`, bench/install-size.ts;
 * alone: `npm run bench:agent-install`).
 *
 * TUFCHAIN_BENCH_SIZES_MIB=16,256,1024 (default) picks the image sizes.
 * TUFCHAIN_BENCH_AGENT_NODE_OPTIONS adds Node options to the agent process only, for profiling it
 * where it runs (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`; perf record -a sees all processes).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PASSPHRASE, writeAgentSettings } from '../test/helpers/agent-cli.js';
import { formatAgentInstall, measureAgentInstall } from './install-size.js';
import { TestChain } from '../test/helpers/chain.js';
import { Fixture } from '../test/helpers/fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const agentBin = join(here, '..', 'bin', 'tufchain-agent');
const probe = pathToFileURL(join(here, 'agent-probe.mjs')).href;
const MiB = 1024 * 1024;
const sizes = (process.env['TUFCHAIN_BENCH_SIZES_MIB'] ?? '16,256,1024').split(',').map(Number);
const rounds = Number(process.env['TUFCHAIN_BENCH_ROUNDS'] ?? 5);
const imageServerMode = process.env['TUFCHAIN_BENCH_IMAGE_SERVER'] ?? 'process';
if (imageServerMode !== 'process' && imageServerMode !== 'fixture') {
  throw new Error('TUFCHAIN_BENCH_IMAGE_SERVER: process (default) or fixture');
}
const imageServerScript = join(here, 'image-server.mjs');

/** Starts bench/image-server.mjs in front of the fixture; resolves with its URL and a stop(). */
function startImageServer(upstream: string, imagePath: string, imageFile: string) {
  const child = spawn(process.execPath, [imageServerScript, upstream, imagePath, imageFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<{ url: string; stop: () => Promise<void> }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`image server exited ${code}`)));
    child.stdout.once('data', (d: Buffer) =>
      resolve({
        url: d.toString().trim(),
        stop: () =>
          new Promise<void>((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      }),
    );
  });
}
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error('TUFCHAIN_BENCH_ROUNDS: whole number ≥ 1');

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function writeImage(path: string, bytes: number) {
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  const out = createWriteStream(path);
  const chunk = 4 * MiB;
  for (let done = 0; done < bytes; done += chunk) {
    const block = randomBytes(Math.min(chunk, bytes - done));
    sha256.update(block);
    sha512.update(block);
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  return { path, length: bytes, sha256: sha256.digest('hex'), sha512: sha512.digest('hex') };
}

function timeCommand(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
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

interface ProbeReport {
  entry: string;
  execArgv: string[];
  maxRssKiB: number;
  cycleMs: number | null;
  cpuMs: number;
}

interface Round {
  floorMs: number;
  agentMs: number;
  ratio: number;
  agentProcessMs: number;
  agentProcessCpuMs: number;
  peakRssMiB: number;
}

interface Row {
  sizeMiB: number;
  rounds: number;
  /** Medians over the rounds. */
  floorMs: number;
  agentMs: number;
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  agentMiBps: number;
  agentProcessMs: number;
  agentProcessCpuMs: number;
  /** The highest of all rounds. */
  peakRssMiB: number;
  samples: Round[];
}

const chain = await TestChain.start();
const rows: Row[] = [];
let agentProcess: { entry: string; execArgv: string[] } | undefined;
const imageDir = await mkdtemp(join(tmpdir(), 'agent-bench-'));
try {
  for (const sizeMiB of sizes) {
    const image = await writeImage(join(imageDir, `image-${sizeMiB}.bin`), sizeMiB * MiB);
    const samples: Round[] = [];
    for (let round = 0; round < rounds; round++) {
      const snapshot = await chain.snapshot();
      let stopImageServer = (): Promise<void> => Promise.resolve();
      const f = await Fixture.create();
      try {
        const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2, file: image });
        await chain.log(rel.entry);
        const imageServer =
          imageServerMode === 'process'
            ? await startImageServer(f.repo.url, f.repo.targetPath(rel.name), image.path)
            : { url: f.repo.url, stop: () => Promise.resolve() };
        stopImageServer = imageServer.stop;
        const url = `${imageServer.url}${f.repo.targetPath(rel.name)}`;

        const floorSlot = join(f.dir, 'floor-slot.img');
        const floorCmd = `curl -s '${url}' | tee '${floorSlot}' | openssl dgst -sha256`;
        if (round === 0) await timeCommand('sh', ['-c', floorCmd]); // warm the page cache
        await timeCommand('sync', []);
        const floor = await timeCommand('sh', ['-c', floorCmd]);
        if (!floor.stdout.includes(image.sha256))
          throw new Error('floor pipeline hashed something else');
        await rm(floorSlot);

        const configPath = await writeAgentSettings(f, chain);
        const settings = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
        await writeFile(configPath, JSON.stringify({ ...settings, serverUrl: imageServer.url }));
        const probeOut = join(f.dir, 'probe.json');
        await timeCommand('sync', []);
        const run = await timeCommand(agentBin, ['run-once', '--config', configPath, '--json'], {
          ...process.env,
          TUFCHAIN_VEHICLE_PASSPHRASE: PASSPHRASE,
          NODE_OPTIONS: [
            process.env['NODE_OPTIONS'],
            process.env['TUFCHAIN_BENCH_AGENT_NODE_OPTIONS'],
            `--import=${probe}`,
          ]
            .filter(Boolean)
            .join(' '),
          TUFCHAIN_BENCH_PROBE_OUT: probeOut,
        });
        const result = JSON.parse(run.stdout) as {
          status?: string;
          target?: { sha256?: string };
        };
        if (result.status !== 'UPDATED' || result.target?.sha256 !== image.sha256) {
          throw new Error(`agent answered ${run.stdout}`);
        }
        const probed = JSON.parse(await readFile(probeOut, 'utf8')) as ProbeReport;
        if (probed.cycleMs === null) throw new Error('the agent measured no update cycle');
        agentProcess = { entry: relative(repoRoot, probed.entry), execArgv: probed.execArgv };
        samples.push({
          floorMs: floor.ms,
          agentMs: probed.cycleMs,
          ratio: probed.cycleMs / floor.ms,
          agentProcessMs: run.ms,
          agentProcessCpuMs: probed.cpuMs,
          peakRssMiB: probed.maxRssKiB / 1024,
        });
      } finally {
        await stopImageServer();
        await f.cleanup();
        await chain.revert(snapshot);
      }
    }
    await rm(image.path);
    const ratios = samples.map((r) => r.ratio);
    const agentMs = median(samples.map((r) => r.agentMs));
    rows.push({
      sizeMiB,
      rounds,
      floorMs: median(samples.map((r) => r.floorMs)),
      agentMs,
      ratio: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
      agentMiBps: sizeMiB / (agentMs / 1000),
      agentProcessMs: median(samples.map((r) => r.agentProcessMs)),
      agentProcessCpuMs: median(samples.map((r) => r.agentProcessCpuMs)),
      peakRssMiB: Math.max(...samples.map((r) => r.peakRssMiB)),
      samples,
    });
  }
} finally {
  await chain.stop();
  await rm(imageDir, { recursive: true, force: true });
}

const install = await measureAgentInstall({
  offline: process.env['TUFCHAIN_BENCH_INSTALL_OFFLINE'] === '1',
});

const fmt = (n: number, d = 1) => n.toFixed(d);
console.log(
  `medians of ${rounds} paired rounds per size; ratio range in brackets; peak RSS: highest round\n`,
);
console.log(
  '| image | floor (curl \\| tee \\| openssl) | agent update cycle | ratio | agent MiB/s | agent process (start-up included) | agent peak RSS |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.sizeMiB} MiB | ${fmt(r.floorMs, 0)} ms | ${fmt(r.agentMs, 0)} ms | ${fmt(r.ratio, 2)}× [${fmt(r.ratioMin, 2)}–${fmt(r.ratioMax, 2)}] | ${fmt(r.agentMiBps)} | ${fmt(r.agentProcessMs, 0)} ms | ${fmt(r.peakRssMiB)} MiB |`,
  );
}
console.log(
  `\nagent: bin/tufchain-agent -> ${agentProcess?.entry} ${agentProcess?.execArgv.join(' ')}`,
);
console.log(`\n${formatAgentInstall(install)}`);
const r256 = rows.find((r) => r.sizeMiB === 256);
const result = {
  updateRatio256MiB: r256 ? Number(r256.ratio.toFixed(3)) : null,
  peakRssMiB: Object.fromEntries(
    rows.map((r) => [`${r.sizeMiB}MiB`, Number(r.peakRssMiB.toFixed(1))]),
  ),
  agentInstallMiB: install.agentInstallMiB,
  agentInstall: install,
  rows,
  agent: agentProcess,
  rounds,
  imageServer: imageServerMode,
  goals: { updateRatio256MiB: 1.5, peakRssMiB: 96 },
  measuredAt: new Date().toISOString(),
};
const out = join(repoRoot, 'bench', 'results', 'agent.json');
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${out}`);
