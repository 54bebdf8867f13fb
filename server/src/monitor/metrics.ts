import type { Counter } from 'prom-client';
import type { MetricsRegistry } from '../metrics.js';
import type { MonitorState } from './state.js';

export interface MonitorMetrics {
  alerts: Counter<'kind' | 'severity'>;
  webhookFailures: Counter;
  pollFailures: Counter;
  /** Records what the gauges show (checkpoint block, undelivered alerts) after a poll. */
  observe(state: MonitorState): void;
}

/**
 * The monitor's Prometheus metrics, registered once per registry: a monitor re-opened when its
 * replica takes the lease back keeps counting into the same series.
 */
export function createMonitorMetrics(registry: MetricsRegistry): MonitorMetrics {
  let checkpointBlock: number | undefined;
  let undelivered = 0;
  registry.collected({
    name: 'tufchain_monitor_checkpoint_block',
    help: 'The confirmed block the monitor has checked up to',
    collect: () => (checkpointBlock === undefined ? [] : [{ labels: {}, value: checkpointBlock }]),
  });
  registry.collected({
    name: 'tufchain_monitor_undelivered_alerts',
    help: 'Alerts the webhook has not acknowledged yet',
    collect: () => [{ labels: {}, value: undelivered }],
  });
  return {
    alerts: registry.counter('tufchain_monitor_alerts_total', 'Monitor alerts raised', [
      'kind',
      'severity',
    ]),
    webhookFailures: registry.counter(
      'tufchain_monitor_webhook_failures_total',
      'Failed webhook delivery attempts',
      [],
    ),
    pollFailures: registry.counter(
      'tufchain_monitor_poll_failures_total',
      'Monitor polls that failed (chain or server unreachable)',
      [],
    ),
    observe(state) {
      checkpointBlock = state.checkpoints.at(-1)?.blockNumber;
      undelivered = state.undelivered.length;
    },
  };
}
