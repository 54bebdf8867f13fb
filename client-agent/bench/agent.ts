/**
 * bench:agent — a full verified update (TUF refresh, on-chain check on anvil, attestation, single
 * pass into the slot, read-back, boot, commit, signed report) against the floor
 * `curl -s URL | tee slot | openssl dgst -sha256`, both in the same run, and the agent's peak RSS
 * per image size. Prints a markdown table and writes bench/results/agent.json at the repo root.
 *
 * TUFCHAIN_BENCH_SIZES_MIB=16,256,1024 (default) picks the image sizes.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchChildInput } from './agent-child.js';
import { TestChain } from '../test/helpers/chain.js';
import { Fixture, HARDWARE_ID } from '../test/helpers/fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const MiB = 1024 * 1024;
/** bin/tufchain-agent's command line: the child runs the agent exactly as the daemon does. */
const AGENT_V8_FLAGS = ['--expose-gc', '--max-semi-space-size=1', '--no-opt', '--no-maglev'];
const AGENT_NODE_ARGS = [
  ...AGENT_V8_FLAGS,
  '--import',
  join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs'),
  '--conditions=@tufchain/source',
];
const agentBin = readFileSync(join(here, '..', 'bin', 'tufchain-agent'), 'utf8');
if (
  !agentBin.includes(
    `${AGENT_V8_FLAGS.join(' ')} --import "$root/node_modules/tsx/dist/loader.mjs" \\\n  --conditions=@tufchain/source`,
  )
) {
  throw new Error('bin/tufchain-agent runs node otherwise than this benchmark does');
}
const sizes = (process.env['TUFCHAIN_BENCH_SIZES_MIB'] ?? '16,256,1024').split(',').map(Number);

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

function timeCommand(cmd: string, args: string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve({ ms: performance.now() - started, stdout })
        : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

interface Row {
  sizeMiB: number;
  floorMs: number;
  agentMs: number;
  ratio: number;
  agentMiBps: number;
  peakRssMiB: number;
  rssBeforeMiB: number;
}

const chain = await TestChain.start();
const rows: Row[] = [];
try {
  for (const sizeMiB of sizes) {
    const snapshot = await chain.snapshot();
    const f = await Fixture.create();
    try {
      const image = await writeImage(join(f.dir, 'image.bin'), sizeMiB * MiB);
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2, file: image });
      await chain.log(rel.entry);
      const url = `${f.repo.url}${f.repo.targetPath(rel.name)}`;

      const floorSlot = join(f.dir, 'floor-slot.img');
      const floorCmd = `curl -s '${url}' | tee '${floorSlot}' | openssl dgst -sha256`;
      await timeCommand('sh', ['-c', floorCmd]); // warm the server's page cache
      const floor = await timeCommand('sh', ['-c', floorCmd]);
      if (!floor.stdout.includes(image.sha256))
        throw new Error('floor pipeline hashed something else');
      await rm(floorSlot);

      const rootPath = join(f.dir, 'root.json');
      await writeFile(rootPath, f.repo.rootBytes(1));
      const input: BenchChildInput = {
        serverUrl: f.repo.url,
        metadataDir: f.metadataDir,
        stateDir: f.stateDir,
        slotsDir: f.slots.dir,
        rootPath,
        hardwareId: HARDWARE_ID,
        ecuSerial: 'GW-0001',
        chain: {
          rpcUrl: chain.chain.rpcUrl,
          address: chain.address,
          chainId: chain.chain.chainId,
          fromBlock: chain.deployBlock,
          confirmations: 3,
        },
        firmwareKey: f.firmwareKey,
        vehicle: {
          privateKeyPem: f.identity.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          certificatePem: f.identity.certificatePem,
          vinCommitment: f.identity.vinCommitment,
        },
      };
      const inputPath = join(f.dir, 'bench-input.json');
      await writeFile(inputPath, JSON.stringify(input), { mode: 0o600 });
      const run = await timeCommand(process.execPath, [
        ...AGENT_NODE_ARGS,
        join(here, 'agent-child.ts'),
        inputPath,
      ]);
      const child = JSON.parse(run.stdout) as {
        ms: number;
        status: string;
        maxRssMiB: number;
        rssBeforeMiB: number;
      };
      if (child.status !== 'UPDATED') throw new Error(`agent answered ${child.status}`);
      rows.push({
        sizeMiB,
        floorMs: floor.ms,
        agentMs: child.ms,
        ratio: child.ms / floor.ms,
        agentMiBps: sizeMiB / (child.ms / 1000),
        peakRssMiB: child.maxRssMiB,
        rssBeforeMiB: child.rssBeforeMiB,
      });
    } finally {
      await f.cleanup();
      await chain.revert(snapshot);
    }
  }
} finally {
  await chain.stop();
}

const fmt = (n: number, d = 1) => n.toFixed(d);
console.log(
  '| image | floor (curl \\| tee \\| openssl) | agent (verified update) | ratio | agent MiB/s | agent peak RSS | RSS before update |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.sizeMiB} MiB | ${fmt(r.floorMs, 0)} ms | ${fmt(r.agentMs, 0)} ms | ${fmt(r.ratio, 2)}× | ${fmt(r.agentMiBps)} | ${fmt(r.peakRssMiB)} MiB | ${fmt(r.rssBeforeMiB)} MiB |`,
  );
}
const r256 = rows.find((r) => r.sizeMiB === 256);
const result = {
  updateRatio256MiB: r256 ? Number(r256.ratio.toFixed(3)) : null,
  peakRssMiB: Object.fromEntries(
    rows.map((r) => [`${r.sizeMiB}MiB`, Number(r.peakRssMiB.toFixed(1))]),
  ),
  rows,
  goals: { updateRatio256MiB: 1.5, peakRssMiB: 96 },
  measuredAt: new Date().toISOString(),
};
const out = join(repoRoot, 'bench', 'results', 'agent.json');
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${out}`);
