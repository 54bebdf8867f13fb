/**
 * The tufchain-agent command line, run as an operator runs it (bin/tufchain-agent with a settings
 * file, a PKCS#12 vehicle bundle and the passphrase in the environment), against anvil and a
 * loopback TUF repository.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentCli, writeAgentSettings } from './helpers/agent-cli.js';
import { TestChain } from './helpers/chain.js';
import { Fixture, HARDWARE_ID } from './helpers/fixture.js';

let chain: TestChain;
let f: Fixture;
let configPath: string;

const agent = (args: string[]) => runAgentCli(configPath, args);

beforeAll(async () => {
  chain = await TestChain.start();
  f = await Fixture.create();
  configPath = await writeAgentSettings(f, chain);
});

afterAll(async () => {
  await f.cleanup();
  await chain.stop();
});

describe('bin/tufchain-agent', () => {
  it('installs a logged release with run-once --json and shows it in status --json', async () => {
    const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
    await chain.log(rel.entry);
    const run = await agent(['run-once', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'UPDATED',
      activeSlot: 'b',
      target: { name: rel.name, releaseCounter: 2 },
    });
    const status = await agent(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      journal: 'IDLE',
      trustedTargetsVersion: rel.published.targetsVersion,
      slots: { active: 'b', slots: { b: { sha256: rel.sha256 } } },
      reports: { queued: 1 },
    });
  });

  it('exits 1 with the error code as JSON for an unlogged release', async () => {
    await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
    const run = await agent(['run-once', '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'METADATA_NOT_LOGGED' } });
  });

  it('syncs the chain, builds an offline bundle and installs it without the server', async () => {
    const rel = await f.addRelease({ version: '4.0.0', releaseCounter: 4 });
    await chain.log(rel.entry);
    const sync = await agent(['sync-chain', '--json']);
    expect(sync.code).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ releases: 2 });
    const bundlePath = join(f.dir, 'dealer.tar');
    const made = await agent([
      'bundle',
      'create',
      '--server',
      f.repo.url,
      '--hardware-id',
      HARDWARE_ID,
      '--out',
      bundlePath,
      '--json',
    ]);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ target: rel.name });
    await f.repo.stop();
    const run = await agent(['install-bundle', bundlePath, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'UPDATED',
      target: { releaseCounter: 4 },
    });
  });
});
