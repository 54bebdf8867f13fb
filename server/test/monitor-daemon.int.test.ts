/**
 * The monitor hosted by the server daemon (src/main.ts as its own process, TUFCHAIN_MONITOR_*):
 * it takes its lease, follows the chain, and answers GET /api/v1/monitor/alerts with what it
 * raised; a bad expectations file stops the start with CONFIG_INVALID.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../src/monitor/alert.js';
import { startTestChain, type TestChain } from './support/chain.js';
import {
  prepareDaemon,
  spawnDaemon,
  waitReady,
  type DaemonFiles,
  type RunningDaemon,
} from './support/daemon.js';
import { publishOverHttp } from './support/publish-over-http.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('the server daemon with TUFCHAIN_MONITOR_EXPECTATIONS_FILE set', () => {
  let chain: TestChain;
  let files: DaemonFiles;
  let daemon: RunningDaemon | undefined;

  beforeAll(async () => {
    chain = await startTestChain();
    files = await prepareDaemon(chain, 'tufchain.test/monitor-daemon');
    await writeFile(
      join(files.dir, 'expectations.json'),
      JSON.stringify({ publishers: [await chain.publisher().getAddress()], keys: {} }),
    );
  });

  afterAll(async () => {
    await daemon?.kill();
    await chain?.stop();
    if (files?.dir) await rm(files.dir, { recursive: true, force: true });
  });

  it('refuses to start on a bad expectations file (CONFIG_INVALID)', async () => {
    await writeFile(join(files.dir, 'bad.json'), JSON.stringify({ publishers: ['0x12'] }));
    const bad = spawnDaemon({
      ...files.env,
      TUFCHAIN_DATA_DIR: join(files.dir, 'bad-data'),
      TUFCHAIN_MONITOR_EXPECTATIONS_FILE: join(files.dir, 'bad.json'),
    });
    expect(await bad.exited).not.toBe(0);
    expect(bad.stderr() + bad.stdout()).toMatch(/CONFIG_INVALID/);
  });

  it('raises UNEXPECTED_RELEASE for a release the OEM records do not know, at /api/v1/monitor/alerts', async () => {
    daemon = spawnDaemon({
      ...files.env,
      TUFCHAIN_MONITOR_EXPECTATIONS_FILE: join(files.dir, 'expectations.json'),
    });
    await waitReady(daemon, files.baseUrl);
    const token = (await readFile(join(files.dir, 'admin.token'), 'utf8')).trim();
    const auth = { authorization: `Bearer ${token}` };
    const alerts = async (): Promise<Alert[] | number> => {
      const res = await fetch(`${files.baseUrl}/api/v1/monitor/alerts`, { headers: auth });
      return res.status === 200 ? ((await res.json()) as { alerts: Alert[] }).alerts : res.status;
    };
    // The monitor opens on the replica that holds its lease, right after the start.
    await expect.poll(alerts, { timeout: 15_000, interval: 200 }).toEqual([]);

    const image = new TextEncoder().encode('gateway firmware nobody at the OEM built');
    await publishOverHttp(files.baseUrl, token, files.firmwareKey, {
      name: 'gw-6.img',
      bytes: image,
      hardwareIds: ['gw'],
      version: '6.6.6',
      releaseCounter: 6,
    });
    await chain.mine(3);
    await expect
      .poll(
        async () => {
          const a = await alerts();
          return Array.isArray(a) ? a.map((x) => [x.kind, x.subject]) : a;
        },
        { timeout: 30_000, interval: 250 },
      )
      .toContainEqual(['UNEXPECTED_RELEASE', `0x${sha256(image)}`]);
  });
});
