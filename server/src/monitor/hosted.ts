import type { Logger } from 'pino';
import type { JobLease } from '../storage/postgres-lease.js';
import { errorText } from '../tuf/error-text.js';
import type { LatestAudit, Monitor } from './monitor.js';

/** The lease under which one replica runs the monitor. */
export const MONITOR_LEASE = 'tufchain:monitor';

export interface HostedMonitor {
  /**
   * The newest audit: the running monitor's, or on a replica without the lease its own standby
   * audit (undefined until the first one finished).
   */
  audit(): LatestAudit | undefined;
  stop(): Promise<void>;
}

/**
 * Runs the monitor inside the server daemon on the replica that holds the lease (every
 * `checkMs`); a replica that takes it over re-opens the monitor, which reloads the saved state
 * (the daemon's is in the database every replica shares, which also serves the recent alerts to
 * every replica: OpenedRepository.monitorState).
 */
export function hostMonitor(opts: {
  open: () => Promise<Monitor>;
  lease?: JobLease | undefined;
  checkMs: number;
  /**
   * How old a standby audit may get before the console's next look starts another (default
   * 60 s, the monitor's audit interval).
   */
  standbyAuditMs?: number;
  logger: Logger;
  clock?: () => number;
}): HostedMonitor {
  const clock = opts.clock ?? Date.now;
  const standbyAuditMs = opts.standbyAuditMs ?? 60_000;
  let monitor: Monitor | undefined;
  // Off the lease the console still shows findings and builds audit packs: a monitor that is
  // opened but never run audits on demand, at most once per standbyAuditMs and one at a time,
  // and only while somebody looks (the first look after a quiet spell shows the previous one).
  let standby: Monitor | undefined;
  let standbyAt = Number.NEGATIVE_INFINITY;
  let standbyRunning = false;
  const refreshStandby = (): void => {
    if (standbyRunning || clock() - standbyAt < standbyAuditMs) return;
    standbyRunning = true;
    void (async () => {
      try {
        standby ??= await opts.open();
        await standby.refreshAudit();
      } catch (error) {
        opts.logger.warn({ err: errorText(error) }, 'standby audit failed');
      } finally {
        standbyAt = clock();
        standbyRunning = false;
      }
    })();
  };
  let running: { stop(): Promise<void> } | undefined;
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const held = opts.lease ? await opts.lease.hold() : true;
      if (held && !running) {
        monitor = await opts.open();
        running = monitor.run();
        standby = undefined;
        opts.logger.info({ checkpoint: monitor.checkpoint }, 'monitor running');
      } else if (!held && running) {
        await running.stop();
        running = undefined;
        monitor = undefined;
        opts.logger.info('monitor lease lost; stopped');
      }
    } catch (error) {
      opts.logger.error({ err: errorText(error) }, 'monitor could not start');
    } finally {
      checking = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), opts.checkMs);
  timer.unref();
  return {
    audit: () => {
      if (running && monitor) return monitor.latestAudit();
      refreshStandby();
      return standby?.latestAudit();
    },
    async stop() {
      clearInterval(timer);
      await running?.stop();
      await opts.lease?.release().catch(() => undefined);
    },
  };
}
