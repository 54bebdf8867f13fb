import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../src/monitor/alert.js';
import type { Monitor } from '../src/monitor/monitor.js';
import { openRepository } from '../src/storage/open.js';
import { sha256, startMonitorRig, type MonitorRig } from './support/monitor-rig.js';

/** anvil mines one block a second here; the monitor waits for 2 of them. */
const BLOCK_SECONDS = 1;
const CONFIRMATIONS = 2;

describe('the monitor on real parts (anvil, the server on loopback, a webhook receiver)', () => {
  let rig: MonitorRig;

  beforeAll(async () => {
    rig = await startMonitorRig({ blockSeconds: BLOCK_SECONDS, confirmations: CONFIRMATIONS });
  });

  afterAll(async () => {
    await rig?.close();
  });

  /** Waits until the monitor has checked past the chain's current head, and the grace after it. */
  async function settle(monitor: Monitor): Promise<void> {
    const head = await rig.chain.blockNumber();
    await expect
      .poll(() => monitor.checkpoint?.blockNumber ?? -1, { timeout: 15_000, interval: 100 })
      .toBeGreaterThanOrEqual(head);
    await new Promise((r) => setTimeout(r, 4000));
  }

  // How fast the alert comes is measured by `npm run bench:monitor`, not here.
  it('stays quiet on an expected release, alerts once on a rogue one, and not again after a restart', async () => {
    const { deliveries } = rig;
    let monitor = await rig.open();
    let running = monitor.run();
    try {
      await rig.publish('brake-1.1.0.bin', rig.expectedImage, 1);
      await settle(monitor);
      expect(deliveries.map((d) => d.alert.kind)).toEqual([]);

      // The stolen-key case: the OEM's own (online) keys sign a release its records do not know.
      const rogue = new TextEncoder().encode('brake firmware 6.6.6, not built by the OEM');
      await rig.publish('brake-6.6.6.bin', rogue, 2);
      await expect.poll(() => deliveries.length, { timeout: 20_000, interval: 25 }).toBe(1);
      const [first] = deliveries;
      expect(first!.signatureValid).toBe(true);
      expect(first!.alert).toMatchObject({
        kind: 'UNEXPECTED_RELEASE',
        severity: 'critical',
        subject: `0x${sha256(rogue)}`,
        chainId: rig.chain.chain.chainId,
      });
      expect(first!.alert.id).toMatch(/^[0-9a-f]{64}$/);
      expect(monitor.recentAlerts().map((a) => a.id)).toEqual([first!.alert.id]);

      await settle(monitor);
      expect(deliveries).toHaveLength(1);
      await running.stop();

      monitor = await rig.open();
      expect(monitor.recentAlerts().map((a) => a.id)).toEqual([first!.alert.id]);
      running = monitor.run();
      await rig.chain.mine(3);
      await settle(monitor);
      expect(deliveries).toHaveLength(1);
      const logged = rig.errors.map((l) => JSON.parse(l) as { msg: string; alert?: Alert });
      // The structured log is a sink too: the alert once, and no failed poll.
      expect(logged.map((l) => [l.msg, l.alert?.id])).toEqual([
        ['monitor alert UNEXPECTED_RELEASE', first!.alert.id],
      ]);
    } finally {
      await running.stop();
    }
  });

  it('two monitors on one database state: the one that loaded before the other saved reloads, and nothing is raised twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tufchain-monitor-db-'));
    const [a, b] = [await openRepository({ dataDir: dir }), await openRepository({ dataDir: dir })];
    try {
      const before = rig.deliveries.length;
      const logBefore = rig.errors.length;
      const m1 = await rig.open({}, a.monitorState);
      const m2 = await rig.open({}, b.monitorState);
      // A fresh state: the first test's rogue release is raised again, once, by m1.
      const raised = await m1.poll();
      expect(raised.map((x) => x.kind)).toContain('UNEXPECTED_RELEASE');
      // m2 loaded before m1 saved (a replica that lost the lease mid-poll): refused, then reloaded.
      await expect(m2.poll()).rejects.toMatchObject({ code: 'MONITOR_STATE_CONFLICT' });
      expect(await m2.poll()).toEqual([]);
      expect(m2.recentAlerts().map((x) => x.id)).toEqual(m1.recentAlerts().map((x) => x.id));
      expect((await b.monitorState.recentAlerts()).map((x) => x.id)).toEqual(
        m1.recentAlerts().map((x) => x.id),
      );
      const delivered = rig.deliveries.slice(before).map((d) => d.alert.id);
      expect(delivered.sort()).toEqual(raised.map((x) => x.id).sort());
      // The log announces an alert once saved: the refused save of m2 logged nothing.
      const logged = rig.errors
        .slice(logBefore)
        .map((l) => JSON.parse(l) as { msg: string; alert?: Alert })
        .filter((l) => l.alert)
        .map((l) => l.alert!.id);
      expect(logged.sort()).toEqual(
        raised
          .filter((x) => x.severity === 'critical')
          .map((x) => x.id)
          .sort(),
      );
    } finally {
      await a.close();
      await b.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
