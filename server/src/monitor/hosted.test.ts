import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobLease } from '../storage/postgres-lease.js';
import { hostMonitor, type HostedMonitor } from './hosted.js';
import type { LatestAudit, Monitor } from './monitor.js';

/** A stand-in for an opened Monitor: counts audits and runs; each audit is released by hand. */
class FakeMonitor {
  audits = 0;
  runs = 0;
  latest: LatestAudit | undefined;
  fail = false;
  #release: (() => void) | undefined;

  refreshAudit(): Promise<LatestAudit> {
    this.audits += 1;
    return new Promise((resolve, reject) => {
      this.#release = () => {
        if (this.fail) return reject(new Error('chain unreachable'));
        this.latest = { at: `audit ${this.audits}` } as unknown as LatestAudit;
        resolve(this.latest);
      };
    });
  }

  finishAudit(): void {
    this.#release?.();
    this.#release = undefined;
  }

  latestAudit(): LatestAudit | undefined {
    return this.latest;
  }

  run(): { stop(): Promise<void> } {
    this.runs += 1;
    return { stop: () => Promise.resolve() };
  }
}

const lease = (held: { value: boolean }): JobLease => ({
  hold: () => Promise.resolve(held.value),
  release: () => Promise.resolve(),
});

const settle = () => new Promise((r) => setTimeout(r, 5));

describe('hostMonitor', () => {
  let hosted: HostedMonitor | undefined;
  afterEach(async () => {
    await hosted?.stop();
    hosted = undefined;
  });

  it('off the lease, audits on demand for the console: once per interval, one at a time', async () => {
    const opened: FakeMonitor[] = [];
    const now = { value: 1_000_000 };
    hosted = hostMonitor({
      open: () => {
        const m = new FakeMonitor();
        opened.push(m);
        return Promise.resolve(m as unknown as Monitor);
      },
      lease: lease({ value: false }),
      checkMs: 60_000,
      standbyAuditMs: 60_000,
      logger: pino({ level: 'silent' }),
      clock: () => now.value,
    });
    await settle();
    expect(opened).toHaveLength(0); // nobody looked yet: no audit, no monitor opened

    expect(hosted.audit()).toBeUndefined();
    await settle();
    expect(hosted.audit()).toBeUndefined(); // still running: not a second one
    const standby = opened[0]!;
    expect(standby.audits).toBe(1);
    expect(standby.runs).toBe(0); // opened, never run: it raises no alert
    standby.finishAudit();
    await settle();
    expect(hosted.audit()?.at).toBe('audit 1');
    expect(standby.audits).toBe(1);

    now.value += 60_000;
    expect(hosted.audit()?.at).toBe('audit 1'); // the previous one while the next runs
    await settle();
    expect(standby.audits).toBe(2);
    standby.finishAudit();
    await settle();
    expect(hosted.audit()?.at).toBe('audit 2');
    expect(opened).toHaveLength(1);
  });

  it('a failed standby audit is retried at the next interval, not at every look', async () => {
    const m = new FakeMonitor();
    m.fail = true;
    const now = { value: 0 };
    hosted = hostMonitor({
      open: () => Promise.resolve(m as unknown as Monitor),
      lease: lease({ value: false }),
      checkMs: 60_000,
      standbyAuditMs: 30_000,
      logger: pino({ level: 'silent' }),
      clock: () => now.value,
    });
    hosted.audit();
    await settle();
    m.finishAudit();
    await settle();
    hosted.audit();
    await settle();
    expect(m.audits).toBe(1);
    now.value += 30_000;
    m.fail = false;
    hosted.audit();
    await settle();
    m.finishAudit();
    await settle();
    expect(m.audits).toBe(2);
    expect(hosted.audit()?.at).toBe('audit 2');
  });

  it('on the lease, answers with the running monitor’s own audit and runs no standby one', async () => {
    const running = new FakeMonitor();
    running.latest = { at: 'the monitor’s' } as unknown as LatestAudit;
    let opens = 0;
    hosted = hostMonitor({
      open: () => {
        opens += 1;
        return Promise.resolve(running as unknown as Monitor);
      },
      lease: lease({ value: true }),
      checkMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
    await settle();
    expect(running.runs).toBe(1);
    expect(hosted.audit()?.at).toBe('the monitor’s');
    await settle();
    expect(running.audits).toBe(0);
    expect(opens).toBe(1);
  });
});
