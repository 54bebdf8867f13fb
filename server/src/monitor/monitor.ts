import type { Metadata, Root } from '@tufjs/models';
import {
  auditRepository,
  type AuditChain,
  type AuditResult,
  type AuditSource,
  type ContractEvent,
} from '@tufchain/transparency';
import type { Logger } from 'pino';
import type { MonitorMetrics } from './metrics.js';
import { ServerError } from '../error.js';
import { errorText } from '../tuf/error-text.js';
import { alertId, type Alert, type AlertDraft } from './alert.js';
import {
  auditFindingAlerts,
  checkAnchor,
  checkExpiry,
  checkLoggedRelease,
  checkMinimumVersion,
  checkRecall,
  checkRoleKeys,
} from './checks.js';
import type { Expectations } from './expectations.js';
import type { ServerReleaseRecords } from './server-releases.js';
import { fetchDelegators, fetchServedExpiries, followRootChain } from './served.js';
import {
  emptyState,
  MAX_RECENT_ALERTS,
  pushCheckpoint,
  type MonitorState,
  type PendingKeyCheck,
  type MonitorStateStore,
} from './state.js';
import { deliverWebhook, type WebhookOptions } from './webhook.js';

/** What the monitor reads from the chain; ChainReader provides it. */
export interface MonitorChain extends AuditChain {
  eventsAfter(after?: { blockNumber: number; blockHash: string }): Promise<{
    events: ContractEvent[];
    confirmed: { blockNumber: number; blockHash: string };
    reorganized: boolean;
  }>;
}

export interface MonitorConfig {
  pollIntervalMs: number;
  /** How often the full audit and the expiry check run when nothing new was logged. */
  auditIntervalMs: number;
  /**
   * How long an audit finding must persist before it alerts: the server logs a snapshot before
   * it serves it, and serves it once its own (maybe shallower) confirmation depth is reached.
   */
  auditGraceMs: number;
  /** Alert when served metadata of a role has less than this many seconds left. */
  expiryWindows: Record<string, number>;
}

const day = 24 * 60 * 60;

export const defaultMonitorConfig: MonitorConfig = {
  pollIntervalMs: 1000,
  auditIntervalMs: 60_000,
  auditGraceMs: 30_000,
  // Below the server's re-sign windows (30 d / 2 d / 6 h): these fire only when re-signing failed.
  expiryWindows: { root: 30 * day, targets: 7 * day, snapshot: 1 * day, timestamp: 60 * 60 },
};

/** The monitor's newest full audit, kept in memory for the console (findings, audit packs). */
export interface LatestAudit {
  /** When the audit finished (ISO 8601). */
  at: string;
  result: AuditResult;
  chainId: number;
  contractAddress: string;
  /** The vehicle CA the installs were verified against; absent when installs were not audited. */
  vehicleCaPem?: string;
}

export interface MonitorOptions {
  chain: MonitorChain;
  chainId: number;
  contractAddress: string;
  /** The server's public routes (createHttpAuditSource). */
  source: AuditSource;
  trustedRoot: Metadata<Root>;
  expectations: Expectations;
  stateStore: MonitorStateStore;
  logger: Logger;
  metrics?: MonitorMetrics;
  webhook?: WebhookOptions;
  config?: Partial<MonitorConfig>;
  clock?: () => Date;
  /**
   * With the vehicle CA, the audit also verifies every install report (so that the console can
   * build audit packs); their findings alert like any other.
   */
  vehicleCaPem?: string;
  /**
   * The releases the server recorded through its authenticated publish path (the daemon-hosted
   * monitor: server-releases.ts): a logged release one of them accounts for is known, as if it
   * were in the expectations' `releases`.
   */
  serverReleases?: ServerReleaseRecords;
}

/**
 * Follows the contract's events from its checkpoint, checks every logged release against the
 * OEM's expectations, audits the served metadata against the chain, and raises each alert once.
 */
export class Monitor {
  readonly #opts: MonitorOptions;
  readonly #config: MonitorConfig;
  readonly #clock: () => Date;
  readonly #metrics: MonitorMetrics | undefined;
  #state: MonitorState | undefined;
  /** Alerts recorded since the last save: the store saves them with the checkpoint. */
  #unsaved: Alert[] = [];
  #root: Metadata<Root>;
  /** Audit findings seen but still within the grace period, by alert ID: first seen (ms). */
  readonly #findingsSeen = new Map<string, number>();
  #lastAudit = 0;
  #latestAudit: LatestAudit | undefined;

  constructor(opts: MonitorOptions) {
    this.#opts = opts;
    this.#config = { ...defaultMonitorConfig, ...opts.config };
    this.#clock = opts.clock ?? (() => new Date());
    this.#root = opts.trustedRoot;
    this.#metrics = opts.metrics;
  }

  /** Loads the saved checkpoint; a state of another chain or contract is refused. */
  async start(): Promise<void> {
    const { chainId, contractAddress, stateStore } = this.#opts;
    const saved = await stateStore.load();
    if (
      saved &&
      (saved.chainId !== chainId || saved.contractAddress !== contractAddress.toLowerCase())
    ) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the monitor state belongs to chain ${saved.chainId} contract ${saved.contractAddress}`,
      );
    }
    this.#state = saved ?? emptyState(chainId, contractAddress);
    this.#unsaved = [];
  }

  /** The newest alerts first (for the console banner and GET /api/v1/monitor/alerts). */
  recentAlerts(): Alert[] {
    return [...(this.#state?.recent ?? [])].reverse();
  }

  /** The newest audit's result, or undefined before the first audit finished. */
  latestAudit(): LatestAudit | undefined {
    return this.#latestAudit;
  }

  get checkpoint(): { blockNumber: number; blockHash: string } | undefined {
    return this.#state?.checkpoints.at(-1);
  }

  /** One round: new events, pending checks, the audit when due; returns the alerts raised. */
  async poll(): Promise<Alert[]> {
    const state = this.#state;
    if (!state) throw new ServerError('INTERNAL', 'Monitor.start() was not called');
    const raised: Alert[] = [];
    const raise = (drafts: readonly AlertDraft[]): void => {
      for (const d of drafts) {
        const alert = this.#record(state, d);
        if (alert) raised.push(alert);
      }
    };

    let read = await this.#opts.chain.eventsAfter(state.checkpoints.at(-1));
    while (read.reorganized) {
      const dropped = state.checkpoints.pop();
      this.#opts.logger.warn(
        { block: dropped?.blockNumber, hash: dropped?.blockHash },
        'monitor checkpoint no longer on the chain; rewinding',
      );
      read = await this.#opts.chain.eventsAfter(state.checkpoints.at(-1));
    }
    let newReleases = false;
    for (const event of read.events) {
      switch (event.kind) {
        case 'release':
          newReleases = true;
          raise(
            checkLoggedRelease(
              event,
              this.#opts.expectations,
              (await this.#opts.serverReleases?.recorded(event)) ?? false,
            ),
          );
          state.pendingKeyChecks.push({
            version: event.metadataVersion,
            hash: event.metadataHash,
            origin: {
              txHash: event.txHash,
              blockNumber: event.blockNumber,
              logIndex: event.logIndex,
            },
          });
          break;
        case 'recall':
          raise(checkRecall(event));
          break;
        case 'minimumVersion':
          raise(checkMinimumVersion(event, this.#opts.expectations));
          break;
        case 'anchor':
          raise(checkAnchor(event, state.lastAnchorSize));
          state.lastAnchorSize = event.size;
          break;
      }
    }
    pushCheckpoint(state, read.confirmed);
    await this.#save(state);
    await this.#deliver(state);

    raise(await this.#checkKeys(state));
    const now = this.#clock().getTime();
    const due = now - this.#lastAudit >= this.#config.auditIntervalMs;
    if (newReleases || due || this.#findingsSeen.size > 0) {
      this.#lastAudit = now;
      raise(await this.#audit(now));
    }
    if (raised.length > 0) {
      await this.#save(state);
      await this.#deliver(state);
    }
    this.#metrics?.observe(state);
    return raised;
  }

  /** Polls until stopped; a failed poll is logged, counted and retried at the next tick. */
  run(onAlerts?: (alerts: readonly Alert[]) => void): { stop(): Promise<void> } {
    let stopped = false;
    let wake: (() => void) | undefined;
    const loop = (async () => {
      while (!stopped) {
        try {
          const alerts = await this.poll();
          if (alerts.length > 0) onAlerts?.(alerts);
        } catch (error) {
          this.#metrics?.pollFailures.inc();
          this.#opts.logger.error({ err: errorText(error) }, 'monitor poll failed');
        }
        if (stopped) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, this.#config.pollIntervalMs).unref();
        });
      }
    })();
    return {
      async stop() {
        stopped = true;
        wake?.();
        await loop;
      },
    };
  }

  /** Key and delegation checks of logged snapshots once the server serves them. */
  async #checkKeys(state: MonitorState): Promise<AlertDraft[]> {
    if (state.pendingKeyChecks.length === 0) return [];
    const drafts: AlertDraft[] = [];
    this.#root = await followRootChain(this.#opts.source, this.#root);
    const waiting: PendingKeyCheck[] = [];
    for (const p of state.pendingKeyChecks) {
      try {
        const tree = await fetchDelegators(this.#opts.source, this.#root, p.version, p.hash);
        // A snapshot served with other bytes than logged is the auditor's finding, not this check's.
        if (tree)
          drafts.push(
            ...checkRoleKeys(
              { root: this.#root, delegators: tree.delegators },
              this.#opts.expectations,
              p.origin,
            ),
          );
      } catch (error) {
        this.#opts.logger.debug(
          { version: p.version, err: errorText(error) },
          'snapshot not checkable yet',
        );
        waiting.push(p);
      }
    }
    // Give up on a snapshot the server never serves; the audit reports RELEASE_NOT_SERVED.
    state.pendingKeyChecks = waiting.slice(-100);
    return drafts;
  }

  /**
   * Runs the full audit and keeps it as the newest (the console's findings and audit packs),
   * raising nothing: what a replica without the monitor's lease runs for its own console.
   */
  async refreshAudit(): Promise<LatestAudit> {
    const { source, chain, trustedRoot, vehicleCaPem } = this.#opts;
    const result = await auditRepository({
      chain,
      // Without the vehicle CA the monitor watches releases only; installs are `tufchain audit`'s.
      source: vehicleCaPem ? source : { ...source, attestations: () => Promise.resolve([]) },
      trustedRoot: trustedRoot.toJSON(),
      ...(vehicleCaPem ? { vehicleCaPem } : {}),
    });
    this.#latestAudit = {
      at: this.#clock().toISOString(),
      result,
      chainId: this.#opts.chainId,
      contractAddress: this.#opts.contractAddress,
      ...(vehicleCaPem ? { vehicleCaPem } : {}),
    };
    return this.#latestAudit;
  }

  async #audit(now: number): Promise<AlertDraft[]> {
    const { result } = await this.refreshAudit();
    const drafts = auditFindingAlerts(result.findings);
    const state = this.#state!;
    const due: AlertDraft[] = [];
    const present = new Set<string>();
    for (const d of drafts) {
      const id = alertId(d, state.chainId);
      present.add(id);
      const first = this.#findingsSeen.get(id) ?? now;
      this.#findingsSeen.set(id, first);
      if (now - first >= this.#config.auditGraceMs) due.push(d);
    }
    for (const id of this.#findingsSeen.keys()) if (!present.has(id)) this.#findingsSeen.delete(id);
    const expiries = await fetchServedExpiries(this.#opts.source, this.#root);
    return [...due, ...checkExpiry(expiries, new Date(now), this.#config.expiryWindows)];
  }

  /** Records a new alert in the state (saved, then announced); undefined when raised before. */
  #record(state: MonitorState, draft: AlertDraft): Alert | undefined {
    const id = alertId(draft, state.chainId);
    if (state.emitted.includes(id)) return undefined;
    const alert: Alert = {
      id,
      chainId: state.chainId,
      detectedAt: this.#clock().toISOString(),
      ...draft,
    };
    state.emitted.push(id);
    this.#unsaved.push(alert);
    state.recent.push(alert);
    if (state.recent.length > MAX_RECENT_ALERTS) state.recent.shift();
    if (this.#opts.webhook) state.undelivered.push(alert);
    this.#findingsSeen.delete(id);
    return alert;
  }

  /** The log and the metrics get an alert once it is saved: a save refused or lost raises it again. */
  #announce(alert: Alert): void {
    this.#metrics?.alerts.inc({ kind: alert.kind, severity: alert.severity });
    const log =
      alert.severity === 'info' ? 'info' : alert.severity === 'warning' ? 'warn' : 'error';
    this.#opts.logger[log]({ alert }, `monitor alert ${alert.kind}`);
  }

  /** Sends what the webhook has not acknowledged, oldest first; keeps the rest for next time. */
  async #deliver(state: MonitorState): Promise<void> {
    const webhook = this.#opts.webhook;
    if (!webhook || state.undelivered.length === 0) return;
    const left: Alert[] = [];
    for (const alert of state.undelivered) {
      const ok = await deliverWebhook(alert, webhook, (attempt, reason) => {
        this.#metrics?.webhookFailures.inc();
        this.#opts.logger.warn({ alertId: alert.id, attempt, reason }, 'webhook delivery failed');
      });
      if (!ok) left.push(alert);
    }
    state.undelivered = left;
    await this.#save(state);
  }

  /**
   * Saves the state with the alerts raised since the last save. When another process saved in
   * between (the lease moved away and back), what this one holds is stale: it reloads the saved
   * state, and the alerts it had not saved are raised again from there, if still due.
   */
  async #save(state: MonitorState): Promise<void> {
    try {
      await this.#opts.stateStore.save(state, this.#unsaved);
      const saved = this.#unsaved;
      this.#unsaved = [];
      for (const alert of saved) this.#announce(alert);
    } catch (error) {
      if (error instanceof ServerError && error.code === 'MONITOR_STATE_CONFLICT') {
        this.#opts.logger.warn('monitor state saved by another replica; reloading it');
        await this.start();
      }
      throw error;
    }
  }
}
