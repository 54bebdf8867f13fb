/**
 * The monitor hosted by the server daemon (src/main.ts as its own process, TUFCHAIN_MONITOR_*):
 * it takes its lease, follows the chain, and answers GET /api/v1/monitor/alerts with what it
 * raised (from the database); releases published through its API are known, one logged on chain
 * behind its back is not; a bad expectations file stops the start with CONFIG_INVALID.
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

  it('counts releases published through the API as known (an expectations file without releases), and alerts on one logged behind its back', async () => {
    const token = (): Promise<string> =>
      readFile(join(files.dir, 'admin.token'), 'utf8').then((t) => t.trim());
    const alerts = async (): Promise<Alert[] | number> => {
      const res = await fetch(`${files.baseUrl}/api/v1/monitor/alerts`, {
        headers: { authorization: `Bearer ${await token()}` },
      });
      return res.status === 200 ? ((await res.json()) as { alerts: Alert[] }).alerts : res.status;
    };
    const unexpected = async (): Promise<string[] | number> => {
      const a = await alerts();
      return Array.isArray(a)
        ? a.filter((x) => x.kind === 'UNEXPECTED_RELEASE').map((x) => x.subject)
        : a;
    };
    const publish = async (name: string, text: string, counter: number): Promise<string> => {
      const image = new TextEncoder().encode(text);
      await publishOverHttp(files.baseUrl, await token(), files.firmwareKey, {
        name,
        bytes: image,
        hardwareIds: ['gw'],
        version: `${counter}.0.0`,
        releaseCounter: counter,
      });
      await chain.mine(3);
      return `0x${sha256(image)}`;
    };

    // With TUFCHAIN_MONITOR_SERVER_RELEASES=false only the expectations' (empty) list counts.
    daemon = spawnDaemon({
      ...files.env,
      TUFCHAIN_MONITOR_EXPECTATIONS_FILE: join(files.dir, 'expectations.json'),
      TUFCHAIN_MONITOR_SERVER_RELEASES: 'false',
    });
    await waitReady(daemon, files.baseUrl);
    await expect.poll(alerts, { timeout: 15_000, interval: 200 }).toEqual([]);
    const strict = await publish('gw-1.img', 'gateway firmware 1', 1);
    await expect.poll(unexpected, { timeout: 30_000, interval: 250 }).toEqual([strict]);
    await daemon.kill();

    // The default: what the server published through its authenticated API is known. The state
    // is in the database: the restarted monitor resumes and raises nothing twice.
    daemon = spawnDaemon({
      ...files.env,
      TUFCHAIN_MONITOR_EXPECTATIONS_FILE: join(files.dir, 'expectations.json'),
    });
    await waitReady(daemon, files.baseUrl);
    const published = await publish('gw-2.img', 'gateway firmware 2', 2);

    // The publisher key used behind the server's back (the stolen-key case).
    const rogue = `0x${sha256(new TextEncoder().encode('gateway firmware nobody at the OEM built'))}`;
    await chain.writer().logRelease({
      metadataVersion: 1000,
      metadataHash: `0x${sha256(new TextEncoder().encode('a snapshot the server never built'))}`,
      firmware: [{ digest: rogue, hardwareId: 'gw', version: 6 }],
    });
    await chain.mine(3);
    // Events are checked in chain order: once the rogue one alerted, the API release was checked.
    await expect.poll(unexpected, { timeout: 30_000, interval: 250 }).toEqual([rogue, strict]);
    expect(await unexpected()).not.toContain(published);
    expect(daemon.stdout()).toMatch(/"kind":"UNEXPECTED_RELEASE"/);
  });
});
