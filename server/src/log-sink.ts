import type { CampaignLogEntry, DirectorTargetsLogEntry } from '@tufchain/transparency/wire';
import type { ChainReceipt, ReleaseEntry } from './tuf/release-log.js';

/**
 * The append-only transparency log the server feeds (LogService from
 * @tufchain/transparency satisfies it): releases after they are published,
 * verified install attestations, recalls. Optional: without it the /api/v1/log
 * routes answer 404 LOG_NOT_CONFIGURED.
 */
export interface TransparencyLogSink {
  /**
   * Appends once, like appendInstallAttestation: the server's log outbox appends again whatever a
   * crash or an outage may have left unappended (tuf/log-outbox.ts).
   */
  appendRelease(entry: ReleaseEntry, chain?: ChainReceipt): Promise<number>;
  /**
   * Appends once: the same bundle again (a resend, the same report on another replica at the same
   * moment) gets the first entry's index. The intake relies on it instead of a lock.
   */
  appendInstallAttestation(bundle: unknown): Promise<number>;
  /** Appends once, as appendRelease. */
  appendRecall(subject: string, reason: string): Promise<number>;
  /** A Director targets version, before it is served (UPTANE.md); LogService has it. */
  appendDirectorTargets?(entry: DirectorTargetsLogEntry): Promise<number>;
  /** A campaign state change, appended once (the same entry again gets its first index). */
  appendCampaignEvent?(entry: CampaignLogEntry): Promise<number>;
  checkpoints(): Promise<{ checkpoints: string[] }>;
  entries(start: number, end: number): Promise<{ entries: string[] }>;
  proofBundle(index: number): Promise<unknown>;
}
