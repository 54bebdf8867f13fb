/**
 * bench:delta's whole-agent round: `bin/tufchain-agent run-once --json` itself (TUF refresh, chain
 * checks on anvil, attestation, install, boot, commit, signed report; the factory settings of
 * test/helpers/agent-cli.ts), updating slot A's v1 to v2 of a pair, once with the delta listed in
 * TUF and once without, with bench/agent-probe.mjs reporting the process's peak RSS (VmHWM) and
 * the update cycle's duration.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileSlotStore } from '../src/slots/ab-slots.js';
import { PASSPHRASE, writeAgentSettings } from '../test/helpers/agent-cli.js';
import type { TestChain } from '../test/helpers/chain.js';
import { Fixture } from '../test/helpers/fixture.js';
import type { ImagePair } from './delta-images.js';

const here = dirname(fileURLToPath(import.meta.url));
const agentBin = join(here, '..', 'bin', 'tufchain-agent');
const probe = pathToFileURL(join(here, 'agent-probe.mjs')).href;

export interface WholeAgentRun {
  path: string;
  networkBytes: number;
  cycleMs: number;
  peakRssMiB: number;
}

const sha = (alg: string, b: Uint8Array): string => createHash(alg).update(b).digest('hex');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${cmd} exited ${code}: ${stdout}`)),
    );
  });
}

/** One update of the whole agent from `pair.base` to `pair.target`, from `delta` when given. */
export async function runWholeAgent(
  chain: TestChain,
  pair: ImagePair,
  files: { target: string; delta: Buffer | undefined },
): Promise<WholeAgentRun> {
  const snapshot = await chain.snapshot();
  const f = await Fixture.create();
  try {
    f.slots = await FileSlotStore.provision(join(f.dir, 'slots'), {
      image: pair.base,
      name: 'gateway-1.0.0.img',
      version: '1.0.0',
      releaseCounter: 1,
    });
    const name = 'gateway-2.0.0.img';
    const baseSha256 = sha('sha256', pair.base);
    const targetSha256 = sha('sha256', pair.target);
    let custom: Record<string, unknown> = {};
    if (files.delta) {
      const deltaName = `${name}.from-${baseSha256.slice(0, 16)}.delta`;
      f.repo.addTarget(deltaName, files.delta, {
        kind: 'delta',
        target: name,
        targetSha256,
        base: { sha256: baseSha256, length: pair.base.length, version: '1.0.0' },
      });
      custom = { deltas: [{ target: deltaName, baseSha256, baseVersion: '1.0.0' }] };
    }
    const rel = await f.addRelease({
      version: '2.0.0',
      releaseCounter: 2,
      name,
      custom,
      file: {
        path: files.target,
        length: pair.target.length,
        sha256: targetSha256,
        sha512: sha('sha512', pair.target),
      },
    });
    await chain.log(rel.entry);
    const configPath = await writeAgentSettings(f, chain);
    const probeOut = join(f.dir, 'probe.json');
    await run('sync', [], process.env);
    const stdout = await run(agentBin, ['run-once', '--config', configPath, '--json'], {
      ...process.env,
      TUFCHAIN_VEHICLE_PASSPHRASE: PASSPHRASE,
      NODE_OPTIONS: [process.env['NODE_OPTIONS'], `--import=${probe}`].filter(Boolean).join(' '),
      TUFCHAIN_BENCH_PROBE_OUT: probeOut,
    });
    const result = JSON.parse(stdout) as {
      status?: string;
      install?: { path: string; networkBytes: number };
    };
    if (result.status !== 'UPDATED' || !result.install) {
      throw new Error(`agent answered ${stdout}`);
    }
    const probed = JSON.parse(await readFile(probeOut, 'utf8')) as {
      maxRssKiB: number;
      cycleMs: number | null;
    };
    return {
      path: result.install.path,
      networkBytes: result.install.networkBytes,
      cycleMs: Math.round(probed.cycleMs ?? Number.NaN),
      peakRssMiB: Math.round((probed.maxRssKiB / 1024) * 10) / 10,
    };
  } finally {
    await f.cleanup();
    await chain.revert(snapshot);
  }
}
