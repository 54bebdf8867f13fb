import type { Logger } from 'pino';
import type { Clock } from '../config.js';
import type { TransparencyLogSink } from '../log-sink.js';
import type { RepositoryStore } from '../storage/store.js';
import { errorText } from './error-text.js';
import type { ChainLookup, ChainReceipt, ReleaseEntry } from './release-log.js';

/** An append the transparency log is owed. */
export type LogCall =
  { kind: 'release'; entry: ReleaseEntry } | { kind: 'recall'; subject: string; reason: string };

export interface DrainReport {
  appended: string[];
  /** Owed for a snapshot that was abandoned: nothing to log. */
  dropped: string[];
  /** Still owed (snapshot not committed yet, log or chain unreachable). */
  pending: string[];
}

/**
 * The transparency log's outbox. What a publish owes the log (its release statement, a revocation's
 * recalls) is recorded in the repository store before the chain sees the snapshot, and forgotten
 * only once appended. The log lives apart from the store (its own file, or other tables), so the
 * two cannot commit together; instead every append is idempotent (LogService appends a statement
 * the log already holds once) and `drain()`, at start and on every background tick, appends
 * whatever a crash, a log outage or an RPC outage left owed. Without a log it does nothing.
 */
export class LogOutbox {
  readonly #store: RepositoryStore;
  readonly #log: TransparencyLogSink | undefined;
  readonly #logger: Logger;
  readonly #clock: Clock;

  constructor(deps: {
    store: RepositoryStore;
    log: TransparencyLogSink | undefined;
    logger: Logger;
    clock: Clock;
  }) {
    this.#store = deps.store;
    this.#log = deps.log;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
  }

  /** Records `calls` as owed; with a snapshot version, they fall due once it is committed. */
  async owe(id: string, snapshotVersion: number | null, calls: LogCall[]): Promise<void> {
    if (!this.#log) return;
    await this.#store.putLogOutbox({
      id,
      snapshotVersion,
      callsJson: JSON.stringify(calls),
      chainJson: null,
      createdAt: this.#clock().toISOString(),
    });
  }

  /** Nothing to log after all (a publish the chain refused). */
  async forget(id: string): Promise<void> {
    if (!this.#log) return;
    await this.#store.deleteLogOutbox(id);
  }

  /**
   * Appends what `id` owes, with the snapshot's chain receipt, and forgets it. Never throws: what
   * fails stays owed for drain(), and the failure is logged.
   */
  async settle(id: string, chain?: ChainReceipt): Promise<boolean> {
    if (!this.#log) return true;
    const row = (await this.#store.logOutbox()).find((r) => r.id === id);
    if (!row) return true;
    try {
      if (chain && !row.chainJson) {
        await this.#store.putLogOutbox({ ...row, chainJson: JSON.stringify(chain) });
      }
      await this.#append(JSON.parse(row.callsJson) as LogCall[], chain);
      await this.#store.deleteLogOutbox(id);
      return true;
    } catch (error) {
      this.#logger.error(
        { id, err: errorText(error) },
        'transparency log append failed; kept in the outbox for the next background tick',
      );
      return false;
    }
  }

  /**
   * Appends everything owed whose snapshot is committed (its chain receipt from the row, else
   * from `chain`), drops what was owed for an abandoned snapshot, keeps the rest. Never throws.
   */
  async drain(chain?: ChainLookup): Promise<DrainReport> {
    const report: DrainReport = { appended: [], dropped: [], pending: [] };
    if (!this.#log) return report;
    for (const row of await this.#store.logOutbox()) {
      try {
        let receipt = row.chainJson ? (JSON.parse(row.chainJson) as ChainReceipt) : undefined;
        if (row.snapshotVersion !== null) {
          const snapshot = await this.#store.publishedMetadata('snapshot', row.snapshotVersion);
          if (!snapshot) {
            const staged = (await this.#store.stagedBatches()).some((b) =>
              b.records.some((r) => r.role === 'snapshot' && r.version === row.snapshotVersion),
            );
            if (staged) report.pending.push(row.id);
            else {
              await this.#store.deleteLogOutbox(row.id);
              report.dropped.push(row.id);
            }
            continue;
          }
          if (!receipt) {
            if (!chain) {
              report.pending.push(row.id);
              continue;
            }
            receipt = await chain.findRelease(`0x${snapshot.sha256}`);
          }
        }
        await this.#append(JSON.parse(row.callsJson) as LogCall[], receipt);
        await this.#store.deleteLogOutbox(row.id);
        report.appended.push(row.id);
      } catch (error) {
        this.#logger.warn({ id: row.id, err: errorText(error) }, 'an owed log append waits');
        report.pending.push(row.id);
      }
    }
    return report;
  }

  async #append(calls: LogCall[], chain: ChainReceipt | undefined): Promise<void> {
    const log = this.#log as TransparencyLogSink;
    for (const call of calls) {
      if (call.kind === 'release') await log.appendRelease(call.entry, chain);
      else await log.appendRecall(call.subject, call.reason);
    }
  }
}
