/**
 * A vehicle whose clock is 30 days behind still updates: bin/tufchain-agent, its wall clock moved
 * back (test/helpers/clock-offset.mjs), loads its credentials without judging the certificate by
 * that clock, decides renewal by the chain's time, and dates its install report by it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVehicleIdentity } from '@tufchain/keys';
import { parseInstallPredicate } from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentCli, writeAgentSettings } from './helpers/agent-cli.js';
import { TestChain } from './helpers/chain.js';
import { Fixture } from './helpers/fixture.js';

const DAY_MS = 86_400_000;
const clockOffset = fileURLToPath(new URL('./helpers/clock-offset.mjs', import.meta.url));
/** The agent's process, with its clock 30 days behind the chain's and the servers'. */
const behind = {
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${clockOffset}`.trim(),
  TUFCHAIN_TEST_CLOCK_OFFSET_MS: String(-30 * DAY_MS),
};

let chain: TestChain;
let f: Fixture;

beforeAll(async () => {
  chain = await TestChain.start();
  f = await Fixture.create();
});

afterAll(async () => {
  await f?.cleanup();
  await chain?.stop();
});

interface CycleOutput {
  status: string;
  report?: { id: string };
  certificate: { status: string; expired: boolean; error?: { code: string } };
}

/** The install report the cycle queued (the loopback repository takes no reports). */
async function queuedReport(id: string) {
  const queued = join(f.dir, 'state', 'outbox', 'queued');
  expect(await readdir(queued)).toContain(`${id}.json`);
  const bundle = JSON.parse(await readFile(join(queued, `${id}.json`), 'utf8')) as {
    dsseEnvelope: { payload: string };
  };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as {
    predicate: unknown;
  };
  return parseInstallPredicate(statement.predicate);
}

describe('bin/tufchain-agent on a vehicle whose clock is 30 days behind', () => {
  it('installs a logged release with a certificate issued today, and dates its report by the chain', async () => {
    const configPath = await writeAgentSettings(f, chain);
    const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
    await chain.log(rel.entry);
    const run = await runAgentCli(configPath, ['run-once', '--json'], behind);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as CycleOutput;
    expect(out).toMatchObject({ status: 'UPDATED', certificate: { status: 'VALID' } });
    const predicate = await queuedReport(out.report?.id ?? '');
    const chainTimeMs = predicate.checkpoint.timestamp * 1000;
    expect(Date.parse(predicate.startedAt)).toBeGreaterThanOrEqual(chainTimeMs);
    expect(Date.parse(predicate.finishedAt)).toBeGreaterThanOrEqual(
      Date.parse(predicate.startedAt),
    );
  });

  it('asks for renewal when the certificate is due by the chain’s time (not by its own clock)', async () => {
    // 20 days left by the chain's clock (renewal is due 30 days ahead); 50 by the vehicle's.
    f.identity = await createVehicleIdentity(f.ca, {
      vin: 'WVWZZZ1JZXW000003',
      ecuSerial: 'GW-0001',
      validDays: 20,
    });
    const configPath = await writeAgentSettings(f, chain);
    const rel = await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
    await chain.log(rel.entry);
    const run = await runAgentCli(configPath, ['run-once', '--json'], behind);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as CycleOutput;
    // This loopback repository has no enrollment routes: the renewal was asked for and refused.
    expect(out).toMatchObject({
      status: 'UPDATED',
      certificate: {
        status: 'RENEWAL_FAILED',
        expired: false,
        error: { code: 'ENROLLMENT_REJECTED' },
      },
    });
  });
});
