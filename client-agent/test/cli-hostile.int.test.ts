/**
 * One endless timestamp.json from a man in the middle must not turn a vehicle's updates off:
 * bin/tufchain-agent, as the vehicle runs it (anvil, the loopback repository answering endlessly
 * for that one path), refuses with a code and exits non-zero, leaves no lock behind, and the
 * daemon goes on to its next cycle instead of exiting.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentCli, startAgentCli, writeAgentSettings } from './helpers/agent-cli.js';
import { TestChain } from './helpers/chain.js';
import { Fixture } from './helpers/fixture.js';
import { serveHuge } from './helpers/hostile.js';

let chain: TestChain;
let f: Fixture;
let configPath: string;

beforeAll(async () => {
  chain = await TestChain.start();
  f = await Fixture.create();
  configPath = await writeAgentSettings(f, chain, { pollIntervalSeconds: 1, pollJitter: 0 });
  const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
  await chain.log(rel.entry);
  f.repo.overrides.set('/metadata/timestamp.json', (_req, res) => void serveHuge(res));
});

afterAll(async () => {
  await f?.cleanup();
  await chain?.stop();
});

const endlessData = (line: string): boolean => line.includes('"code":"ENDLESS_DATA"');

describe('bin/tufchain-agent behind a man in the middle serving an endless timestamp.json', () => {
  it('run-once refuses with ENDLESS_DATA, exits 1, keeps slot A and releases its lock', async () => {
    const run = await runAgentCli(configPath, ['run-once', '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'ENDLESS_DATA' } });
    expect(existsSync(join(f.dir, 'state', 'agent.lock'))).toBe(false);
    const status = await runAgentCli(configPath, ['status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ slots: { active: 'a' }, journal: 'IDLE' });
  });

  it('the daemon reports ENDLESS_DATA every cycle and keeps running until it is stopped', async () => {
    const agent = startAgentCli(configPath, ['daemon', '--json']);
    // Bounded: whatever happens, the daemon is gone after 45 s.
    const bound = setTimeout(() => agent.child.kill('SIGKILL'), 45_000);
    try {
      const lines = await agent.until((ls) => ls.filter(endlessData).length >= 2);
      expect(lines.filter(endlessData).length).toBeGreaterThanOrEqual(2);
      expect(agent.child.exitCode).toBeNull();
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    } finally {
      clearTimeout(bound);
      agent.child.kill('SIGKILL');
    }
    expect(existsSync(join(f.dir, 'state', 'agent.lock'))).toBe(false);
  });
});
