import type { Logger } from 'pino';
import type { JobLease } from '../storage/postgres-lease.js';
import { errorText } from '../tuf/error-text.js';
import type { LatestAudit, Monitor } from './monitor.js';

/** The lease under which one replica runs the monitor. */
export const MONITOR_LEASE = 'tufchain:monitor';

export interface HostedMonitor {
  /** The running monitor's newest audit; undefined before it, or while another replica runs it. */
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
  logger: Logger;
}): HostedMonitor {
  let monitor: Monitor | undefined;
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
    audit: () => monitor?.latestAudit(),
    async stop() {
      clearInterval(timer);
      await running?.stop();
      await opts.lease?.release().catch(() => undefined);
    },
  };
}
