import type { DatabaseSync } from 'node:sqlite';
import type { Signer } from 'ethers';
import { SqliteAnchorOutbox, type AnchorOutbox } from '../anchor/outbox.js';
import { AnchorService, type AnchorConfig } from '../anchor/service.js';
import { createProofBundle, type ProofBundle } from '../bundle/proof-bundle.js';
import type { ChainReceipt, ReleaseEntry } from '../chain/types.js';
import { TransparencyError } from '../error.js';
import { EncodedLogEntry } from './entry.js';
import type { DirectorTargetsLogEntry } from '../wire/director.js';
import type { CampaignLogEntry } from '../wire/campaign.js';
import type { NoteSigner } from '../note/signed-note.js';
import { openLogDatabase } from './sqlite.js';
import { SqliteLogStorage, type LogStorage } from './storage.js';
import { TransparencyLog, type AppendedEntry } from './transparency-log.js';

export const MAX_ENTRIES_PAGE = 1000;

/** Where a log keeps its entries and its anchoring outbox, and how to let go of them. */
export interface LogStores {
  storage: LogStorage;
  outbox: AnchorOutbox;
  close(): Promise<void>;
}

export interface LogServiceOptions {
  /**
   * A SQLite database file path, an open SQLite database (e.g. the server's own; not closed by
   * the service), or other stores (the server's PostgreSQL ones).
   */
  database: string | DatabaseSync | LogStores;
  origin: string;
  signers: readonly NoteSigner[];
  /** Anchoring; without it the log still signs checkpoints but nothing is anchored. */
  anchoring?: {
    signer: Signer;
    contractAddress: string;
    chainId: number;
    /** The contract's deployment block. */
    fromBlock?: number;
    config?: Partial<AnchorConfig>;
    onError?: (err: TransparencyError) => void;
  };
}

/**
 * The log as a server embeds it: append releases, install attestations and recalls, anchor them,
 * and answer the public log routes the auditor reads
 * (`/api/v1/log/checkpoints`, `/api/v1/log/entries`, `/api/v1/log/proof-bundle`).
 */
export class LogService {
  readonly log: TransparencyLog;
  readonly anchors: AnchorService | undefined;
  readonly #stores: LogStores;
  readonly #chain: { chainId: number; contractAddress: string } | undefined;

  constructor(opts: LogServiceOptions) {
    this.#stores = sqliteStores(opts.database);
    this.log = new TransparencyLog({
      storage: this.#stores.storage,
      origin: opts.origin,
      signers: opts.signers,
    });
    if (opts.anchoring) {
      const a = opts.anchoring;
      this.anchors = new AnchorService({
        log: this.log,
        outbox: this.#stores.outbox,
        signer: a.signer,
        contractAddress: a.contractAddress,
        ...(a.config ? { config: a.config } : {}),
        ...(a.fromBlock === undefined ? {} : { fromBlock: a.fromBlock }),
        ...(a.onError ? { onError: a.onError } : {}),
      });
      this.#chain = { chainId: a.chainId, contractAddress: a.contractAddress };
    }
  }

  /** Starts the anchoring timer. */
  start(): void {
    this.anchors?.start();
  }

  async close(): Promise<void> {
    await this.anchors?.stop();
    await this.#stores.close();
  }

  /**
   * Appends a release statement (after it is logged on chain) and anchors at once; once: the same
   * statement again (the server's outbox retrying after a crash) gets the first one's index.
   */
  async appendRelease(entry: ReleaseEntry, chain?: ChainReceipt): Promise<number> {
    const index = await this.log.appendOnce({
      type: 'release',
      metadataVersion: entry.metadataVersion,
      metadataHash: entry.metadataHash.toLowerCase(),
      firmware: entry.firmware.map((f) => ({
        digest: f.digest.toLowerCase(),
        hardwareId: f.hardwareId,
        version: f.version,
      })),
      ...(chain ? { chain } : {}),
    });
    this.anchors?.notifyAppended({ urgent: true });
    return index;
  }

  /**
   * Appends a verified install attestation bundle, once: the same bundle bytes appended again (a
   * resend after a crash, the same report on two replicas) get the first entry's index. It is
   * anchored with the next batch.
   */
  async appendInstallAttestation(bundle: unknown): Promise<number> {
    return (await this.appendInstallAttestationSized(bundle)).index;
  }

  /**
   * appendInstallAttestation, with its leaf hash and a tree size that includes it (one per batch).
   * `bundle` may be the report's entry as EncodedLogEntry.installAttestation encoded it.
   */
  async appendInstallAttestationSized(bundle: unknown): Promise<AppendedEntry> {
    const appended = await this.log.appendOnceSized(
      EncodedLogEntry.is(bundle) && bundle.kind === 'install-attestation'
        ? bundle
        : { type: 'install-attestation', bundle },
    );
    this.anchors?.notifyAppended();
    return appended;
  }

  /** Appends a recall statement, once (as appendRelease). */
  async appendRecall(subject: string, reason: string): Promise<number> {
    const index = await this.log.appendOnce({
      type: 'recall',
      subject: subject.toLowerCase(),
      reason,
    });
    this.anchors?.notifyAppended({ urgent: true });
    return index;
  }

  /**
   * Appends the log entry of a Director targets version (UPTANE.md), before the version is served;
   * it is anchored with the next batch.
   */
  async appendDirectorTargets(entry: DirectorTargetsLogEntry): Promise<number> {
    const [index] = await this.log.append(entry);
    this.anchors?.notifyAppended();
    return index!;
  }

  /**
   * Appends a campaign state change, once: the same entry again (a resend after a crash between
   * appending and recording the index) gets the first entry's index.
   */
  async appendCampaignEvent(entry: CampaignLogEntry): Promise<number> {
    const index = await this.log.appendOnce(entry);
    this.anchors?.notifyAppended();
    return index;
  }

  /** `GET /api/v1/log/checkpoints`: every signed checkpoint note, by size. */
  async checkpoints(): Promise<{ checkpoints: string[] }> {
    return { checkpoints: (await this.log.storage.checkpoints()).map((c) => c.note) };
  }

  /** `GET /api/v1/log/entries?start&end`: leaf inputs, base64, at most MAX_ENTRIES_PAGE. Throws INVALID_RANGE. */
  async entries(start: number, end: number): Promise<{ entries: string[] }> {
    const size = await this.log.size();
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(end) ||
      start < 0 ||
      end < start ||
      end > size
    ) {
      throw new TransparencyError(
        'INVALID_RANGE',
        `entries [${start}, ${end}) are not in a log of ${size}`,
      );
    }
    const last = Math.min(end, start + MAX_ENTRIES_PAGE);
    return {
      entries: (await this.log.storage.entries(start, last)).map((e) =>
        Buffer.from(e.data).toString('base64'),
      ),
    };
  }

  /** `GET /api/v1/log/proof-bundle?index=N`: throws NOT_ANCHORED until a confirmed anchor covers it. */
  async proofBundle(index: number): Promise<ProofBundle> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= (await this.log.size())) {
      throw new TransparencyError('ENTRY_NOT_FOUND', `no log entry ${index}`);
    }
    const anchor = await this.anchors?.anchorCovering(index);
    if (!anchor || !this.#chain)
      throw new TransparencyError('NOT_ANCHORED', `entry ${index} is not anchored yet`);
    return createProofBundle({ log: this.log, index, anchor, ...this.#chain });
  }
}

function sqliteStores(database: LogServiceOptions['database']): LogStores {
  if (typeof database === 'object' && 'storage' in database) return database;
  const db = typeof database === 'string' ? openLogDatabase(database) : database;
  return {
    storage: new SqliteLogStorage(db),
    outbox: new SqliteAnchorOutbox(db),
    close: () => {
      if (typeof database === 'string') db.close();
      return Promise.resolve();
    },
  };
}
