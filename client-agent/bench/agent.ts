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
 *
 * The vehicle (Uptane, issue 14): the same measurement for a primary (bin/tufchain-agent with a
 * director section) and 4 secondaries, each a `tufchain-agent secondary` process on a Unix
 * socket, one 64 MiB image for each of the 5 ECUs (TUFCHAIN_BENCH_VEHICLE_IMAGE_MIB), against the
 * floor for the same total bytes (one 320 MiB image), paired per round; the primary's peak RSS. JSON:
 * multiEcuRatio, multiEcuPeakRssMiB. TUFCHAIN_BENCH_VEHICLE=0 leaves it out.
 * TUFCHAIN_BENCH_AGENT_NODE_OPTIONS adds Node options to the agent process only (those NODE_OPTIONS
 * takes: not --cpu-prof; perf record -a sees all processes). TUFCHAIN_BENCH_CPU_PROF_DIR=DIR writes
 * a CPU profile of the agent and of every secondary into DIR (bench/cpu-profile.mjs).
 *
 * A partial run (TUFCHAIN_BENCH_SIZES_MIB= for the vehicle only, TUFCHAIN_BENCH_VEHICLE=0,
 * TUFCHAIN_BENCH_INSTALL=0 to leave out the install size) keeps the figures it did not measure
 * from the agent.json it rewrites.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatAgentInstall, measureAgentInstall } from './install-size.js';
import { PASSPHRASE, writeAgentSettings, writeVehicleSettings } from '../test/helpers/agent-cli.js';
import { TestChain } from '../test/helpers/chain.js';
import { Fixture, HARDWARE_ID } from '../test/helpers/fixture.js';
import { startSecondaryProcess, type SecondaryProcess } from '../test/helpers/secondary-process.js';
import { LOG_ORIGIN, TestDirector } from '../test/helpers/test-director.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const agentBin = join(here, '..', 'bin', 'tufchain-agent');
const probe = pathToFileURL(join(here, 'agent-probe.mjs')).href;
const cpuProfileDir = process.env['TUFCHAIN_BENCH_CPU_PROF_DIR'];
/** Loads bench/cpu-profile.mjs too when TUFCHAIN_BENCH_CPU_PROF_DIR is set. */
const cpuProfileImport = cpuProfileDir
  ? `--import=${pathToFileURL(join(here, 'cpu-profile.mjs')).href}`
  : undefined;
if (cpuProfileDir) {
  await mkdir(cpuProfileDir, { recursive: true });
  // The secondaries' helper passes this on as their NODE_OPTIONS.
  process.env['TUFCHAIN_BENCH_SECONDARY_NODE_OPTIONS'] = [
    process.env['TUFCHAIN_BENCH_SECONDARY_NODE_OPTIONS'],
    cpuProfileImport,
  ]
    .filter(Boolean)
    .join(' ');
}
const MiB = 1024 * 1024;
const sizes = (process.env['TUFCHAIN_BENCH_SIZES_MIB'] ?? '16,256,1024')
  .split(',')
  .filter((s) => s.trim() !== '')
  .map(Number);
const rounds = Number(process.env['TUFCHAIN_BENCH_ROUNDS'] ?? 5);
const imageServerMode = process.env['TUFCHAIN_BENCH_IMAGE_SERVER'] ?? 'process';
if (imageServerMode !== 'process' && imageServerMode !== 'fixture') {
  throw new Error('TUFCHAIN_BENCH_IMAGE_SERVER: process (default) or fixture');
}
const imageServerScript = join(here, 'image-server.mjs');
const vehicleBench = process.env['TUFCHAIN_BENCH_VEHICLE'] !== '0';
const VEHICLE_SECONDARIES = 4;
const PRIMARY_SERIAL = 'GW-0001';
const VEHICLE_IMAGE_MIB = Number(process.env['TUFCHAIN_BENCH_VEHICLE_IMAGE_MIB'] ?? 64);

/** Starts bench/image-server.mjs in front of the fixture; resolves with its URL and a stop(). */
function startImageServer(upstream: string, images: [urlPath: string, file: string][]) {
  const child = spawn(process.execPath, [imageServerScript, upstream, ...images.flat()], {
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
  /** The vehicle only: the secondaries' CPU time while the primary ran, all four together. */
  secondariesCpuMs?: number;
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

/** bin/tufchain-agent run-once --json with the probe loaded; `sync` first. */
async function runAgentProbed(configPath: string, dir: string) {
  const probeOut = join(dir, 'probe.json');
  await timeCommand('sync', []);
  const run = await timeCommand(agentBin, ['run-once', '--config', configPath, '--json'], {
    ...process.env,
    TUFCHAIN_VEHICLE_PASSPHRASE: PASSPHRASE,
    NODE_OPTIONS: [
      process.env['NODE_OPTIONS'],
      process.env['TUFCHAIN_BENCH_AGENT_NODE_OPTIONS'],
      cpuProfileImport,
      `--import=${probe}`,
    ]
      .filter(Boolean)
      .join(' '),
    TUFCHAIN_BENCH_PROBE_OUT: probeOut,
  });
  const probed = JSON.parse(await readFile(probeOut, 'utf8')) as ProbeReport;
  agentProcess = { entry: relative(repoRoot, probed.entry), execArgv: probed.execArgv };
  return { run, probed };
}

/** The floor for `image` served at `url`: curl | tee slot | openssl, after a `sync`. */
async function timeFloor(url: string, image: { sha256: string }, dir: string, warm: boolean) {
  const floorSlot = join(dir, 'floor-slot.img');
  const floorCmd = `curl -s '${url}' | tee '${floorSlot}' | openssl dgst -sha256`;
  if (warm) await timeCommand('sh', ['-c', floorCmd]); // warm the page cache
  await timeCommand('sync', []);
  const floor = await timeCommand('sh', ['-c', floorCmd]);
  if (!floor.stdout.includes(image.sha256)) throw new Error('floor pipeline hashed something else');
  await rm(floorSlot);
  return floor;
}

interface VehicleRow extends Omit<Row, 'sizeMiB'> {
  secondaries: number;
  secondariesCpuMs: number;
  imageMiB: number;
  totalMiB: number;
}

const chain = await TestChain.start();
const rows: Row[] = [];
let agentProcess: { entry: string; execArgv: string[] } | undefined;
let vehicle: VehicleRow | undefined;
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
            ? await startImageServer(f.repo.url, [[f.repo.targetPath(rel.name), image.path]])
            : { url: f.repo.url, stop: () => Promise.resolve() };
        stopImageServer = imageServer.stop;
        const url = `${imageServer.url}${f.repo.targetPath(rel.name)}`;

        const floor = await timeFloor(url, image, f.dir, round === 0);

        const configPath = await writeAgentSettings(f, chain);
        const settings = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
        await writeFile(configPath, JSON.stringify({ ...settings, serverUrl: imageServer.url }));
        const { run, probed } = await runAgentProbed(configPath, f.dir);
        const result = JSON.parse(run.stdout) as {
          status?: string;
          target?: { sha256?: string };
        };
        if (result.status !== 'UPDATED' || result.target?.sha256 !== image.sha256) {
          throw new Error(`agent answered ${run.stdout}`);
        }
        if (probed.cycleMs === null) throw new Error('the agent measured no update cycle');
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
  if (vehicleBench) vehicle = await benchVehicle();
} finally {
  await chain.stop();
  await rm(imageDir, { recursive: true, force: true });
}

const out = join(repoRoot, 'bench', 'results', 'agent.json');
/** The last run's results: what a partial run does not measure is kept from them. */
const previous = (await readFile(out, 'utf8').then(
  (text) => JSON.parse(text) as Record<string, unknown>,
  () => ({}),
)) as Record<string, unknown>;
const install =
  process.env['TUFCHAIN_BENCH_INSTALL'] === '0'
    ? undefined
    : await measureAgentInstall({
        offline: process.env['TUFCHAIN_BENCH_INSTALL_OFFLINE'] === '1',
      });
/**
 * The vehicle: 1 primary (bin/tufchain-agent run-once with a director section) and 4 secondaries
 * (`tufchain-agent secondary` processes on Unix sockets, 2 partial, 2 full verification), one
 * VEHICLE_IMAGE_MIB image for each of the 5 ECUs, assigned together by the test Director; against
 * the floor for the same total bytes (one image of 5 × VEHICLE_IMAGE_MIB), paired per round as
 * above.
 */
async function benchVehicle(): Promise<VehicleRow> {
  const floorImage = await writeImage(
    join(imageDir, 'vehicle-floor.bin'),
    (VEHICLE_SECONDARIES + 1) * VEHICLE_IMAGE_MIB * MiB,
  );
  const primaryImage = await writeImage(join(imageDir, 'primary.bin'), VEHICLE_IMAGE_MIB * MiB);
  const ecuImages = [];
  for (let i = 0; i < VEHICLE_SECONDARIES; i++) {
    ecuImages.push(await writeImage(join(imageDir, `ecu-${i}.bin`), VEHICLE_IMAGE_MIB * MiB));
  }
  const samples: Round[] = [];
  for (let round = 0; round < rounds; round++) {
    const snapshot = await chain.snapshot();
    let stopImageServer = (): Promise<void> => Promise.resolve();
    const secondaries: SecondaryProcess[] = [];
    const f = await Fixture.create();
    try {
      const director = new TestDirector(f.repo);
      // The floor's image only needs serving; its own hardware ID keeps it out of the primary's way.
      const floorRel = await f.addRelease({
        version: '9.0.0',
        releaseCounter: 9,
        hardwareIds: ['bench-floor'],
        name: 'bench-floor-9.0.0.img',
        file: floorImage,
      });
      const primaryRel = await f.addRelease({
        version: '2.0.0',
        releaseCounter: 2,
        hardwareIds: [HARDWARE_ID],
        name: `${HARDWARE_ID}-2.0.0.img`,
        file: primaryImage,
      });
      await chain.log(primaryRel.entry);
      const assignments = [
        {
          ecuSerial: PRIMARY_SERIAL,
          hardwareId: HARDWARE_ID,
          name: primaryRel.name,
          length: primaryImage.length,
          sha256: primaryImage.sha256,
          sha512: primaryImage.sha512,
          releaseCounter: 2,
        },
      ];
      const served: [string, string][] = [
        [f.repo.targetPath(floorRel.name), floorImage.path],
        [f.repo.targetPath(primaryRel.name), primaryImage.path],
      ];
      for (const [i, image] of ecuImages.entries()) {
        const ecu = {
          serial: `ECU-${i + 1}`,
          hardwareId: `ecu-hw-${i + 1}`,
          verification: i % 2 ? ('full' as const) : ('partial' as const),
        };
        const rel = await f.addRelease({
          version: '2.0.0',
          releaseCounter: 2,
          hardwareIds: [ecu.hardwareId],
          name: `${ecu.hardwareId}-2.0.0.img`,
          file: image,
        });
        await chain.log(rel.entry);
        served.push([f.repo.targetPath(rel.name), image.path]);
        assignments.push({
          ecuSerial: ecu.serial,
          hardwareId: ecu.hardwareId,
          name: rel.name,
          length: image.length,
          sha256: image.sha256,
          sha512: image.sha512,
          releaseCounter: 2,
        });
        secondaries.push(
          await startSecondaryProcess({
            dir: f.dir,
            ...ecu,
            directorRoot: director.rootBytes,
            ...(ecu.verification === 'full'
              ? {
                  full: {
                    imageRoot: f.repo.rootBytes(1),
                    rpcUrls: [chain.chain.rpcUrl],
                    contractAddress: chain.address,
                    chainId: chain.chain.chainId,
                    confirmations: 3,
                    fromBlock: chain.deployBlock,
                    vehicleCommitment: f.identity.vinCommitment,
                    logKeys: [director.logKey],
                    logOrigin: LOG_ORIGIN,
                  },
                }
              : {}),
          }),
        );
      }
      const enrolled = director.enroll(f.identity.certificatePem, f.identity.vinCommitment);
      await director.assign(enrolled, assignments);
      const imageServer =
        imageServerMode === 'process'
          ? await startImageServer(f.repo.url, served)
          : { url: f.repo.url, stop: () => Promise.resolve() };
      stopImageServer = imageServer.stop;

      const floor = await timeFloor(
        `${imageServer.url}${f.repo.targetPath(floorRel.name)}`,
        floorImage,
        f.dir,
        round === 0,
      );
      const configPath = await writeVehicleSettings(
        f,
        chain,
        {
          ecuSerial: PRIMARY_SERIAL,
          hardwareId: HARDWARE_ID,
          directorRoot: director.rootBytes,
          logKeys: [director.logKey],
          logOrigin: LOG_ORIGIN,
          secondaries,
        },
        { serverUrl: imageServer.url },
      );
      const settings = JSON.parse(await readFile(configPath, 'utf8')) as {
        director: Record<string, unknown>;
      };
      // The Director is the fixture's server; images come from the image server.
      settings.director['url'] = f.repo.url;
      await writeFile(configPath, JSON.stringify(settings));
      const secondariesCpu = () =>
        Promise.all(secondaries.map((s) => processCpuMs(s.child.pid))).then((ms) =>
          ms.reduce((a, b) => a + b, 0),
        );
      const secondariesCpuBefore = await secondariesCpu();
      const { run, probed } = await runAgentProbed(configPath, f.dir);
      const secondariesCpuMs = (await secondariesCpu()) - secondariesCpuBefore;
      const result = JSON.parse(run.stdout) as {
        status?: string;
        ecus?: { serial: string; outcome: string }[];
      };
      if (
        result.status !== 'UPDATED' ||
        result.ecus?.length !== VEHICLE_SECONDARIES + 1 ||
        !result.ecus.every((e) => e.outcome === 'COMMITTED')
      ) {
        throw new Error(`agent answered ${run.stdout}`);
      }
      if (probed.cycleMs === null) throw new Error('the agent measured no update cycle');
      samples.push({
        floorMs: floor.ms,
        agentMs: probed.cycleMs,
        ratio: probed.cycleMs / floor.ms,
        agentProcessMs: run.ms,
        agentProcessCpuMs: probed.cpuMs,
        secondariesCpuMs,
        peakRssMiB: probed.maxRssKiB / 1024,
      });
    } finally {
      await stopImageServer();
      for (const s of secondaries) await s.stop();
      await f.cleanup();
      await chain.revert(snapshot);
    }
  }
  for (const image of [floorImage, primaryImage, ...ecuImages]) await rm(image.path);
  const ratios = samples.map((r) => r.ratio);
  const totalMiB = (VEHICLE_SECONDARIES + 1) * VEHICLE_IMAGE_MIB;
  const agentMs = median(samples.map((r) => r.agentMs));
  return {
    secondaries: VEHICLE_SECONDARIES,
    imageMiB: VEHICLE_IMAGE_MIB,
    totalMiB,
    rounds,
    floorMs: median(samples.map((r) => r.floorMs)),
    agentMs,
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    agentMiBps: totalMiB / (agentMs / 1000),
    agentProcessMs: median(samples.map((r) => r.agentProcessMs)),
    agentProcessCpuMs: median(samples.map((r) => r.agentProcessCpuMs)),
    secondariesCpuMs: median(samples.map((r) => r.secondariesCpuMs ?? 0)),
    peakRssMiB: Math.max(...samples.map((r) => r.peakRssMiB)),
    samples,
  };
}

/** A live process's CPU time so far (Linux /proc; 0 elsewhere). */
async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // After the command name (which may hold spaces): utime and stime are the 12th and 13th fields.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return Number.isFinite(ticks) ? ticks * 10 : 0;
}

const fmt = (n: number, d = 1) => n.toFixed(d);
const rowLine = (label: string, r: Row | VehicleRow, size: number) =>
  `| ${label} | ${fmt(r.floorMs, 0)} ms | ${fmt(r.agentMs, 0)} ms | ${fmt(r.ratio, 2)}× [${fmt(r.ratioMin, 2)}–${fmt(r.ratioMax, 2)}] | ${fmt(size / (r.agentMs / 1000))} | ${fmt(r.agentProcessMs, 0)} ms | ${fmt(r.peakRssMiB)} MiB |`;
console.log(
  `medians of ${rounds} paired rounds per size; ratio range in brackets; peak RSS: highest round\n`,
);
console.log(
  '| image | floor (curl \\| tee \\| openssl) | agent update cycle | ratio | agent MiB/s | agent process (start-up included) | agent peak RSS |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(rowLine(`${r.sizeMiB} MiB`, r, r.sizeMiB));
if (vehicle) {
  console.log(
    rowLine(
      `vehicle: primary + ${vehicle.secondaries} secondaries, ${vehicle.imageMiB} MiB each (${vehicle.totalMiB} MiB)`,
      vehicle,
      vehicle.totalMiB,
    ),
  );
  console.log(
    `\nvehicle CPU time (medians): primary ${fmt(vehicle.agentProcessCpuMs, 0)} ms, secondaries ${fmt(vehicle.secondariesCpuMs, 0)} ms (all four, while the primary ran)`,
  );
}
console.log(
  `\nagent: bin/tufchain-agent -> ${agentProcess?.entry} ${agentProcess?.execArgv.join(' ')}`,
);
if (install) console.log(`\n${formatAgentInstall(install)}`);
const r256 = rows.find((r) => r.sizeMiB === 256);
const sizesRun = rows.length > 0;
const result = {
  ...previous,
  ...(sizesRun
    ? {
        updateRatio256MiB: r256 ? Number(r256.ratio.toFixed(3)) : null,
        peakRssMiB: Object.fromEntries(
          rows.map((r) => [`${r.sizeMiB}MiB`, Number(r.peakRssMiB.toFixed(1))]),
        ),
        rows,
      }
    : {}),
  ...(install ? { agentInstallMiB: install.agentInstallMiB, agentInstall: install } : {}),
  ...(vehicle
    ? {
        multiEcuRatio: Number(vehicle.ratio.toFixed(3)),
        multiEcuPeakRssMiB: Number(vehicle.peakRssMiB.toFixed(1)),
        vehicle,
      }
    : {}),
  agent: agentProcess,
  rounds,
  imageServer: imageServerMode,
  goals: { updateRatio256MiB: 1.5, peakRssMiB: 96, multiEcuRatio: 1.5, multiEcuPeakRssMiB: 96 },
  measuredAt: new Date().toISOString(),
};
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${out}`);
