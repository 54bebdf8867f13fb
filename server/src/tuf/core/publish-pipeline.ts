import type { Root } from '@tufjs/models';
import type { Logger } from 'pino';
import type { Clock, Config } from '../../config.js';
import { ServerError } from '../../error.js';
import type { TransparencyLogSink } from '../../log-sink.js';
import { LogOutbox, type LogCall } from '../log-outbox.js';
import type {
  MetadataRole,
  NewMetadataRecord,
  ReleasePatch,
  RepositoryStore,
} from '../../storage/store.js';
import { errorText } from '../error-text.js';
import { expiryAfter } from '../expiry.js';
import { buildSnapshot } from '../layout.js';
import { buildTimestamp, recordOf } from '../metadata.js';
import type { ChainReceipt, ReleaseEntry, ReleaseLog } from '../release-log.js';
import { signMetadata } from '../signer.js';
import type { OnlineKeys } from './online-keys.js';
import type { RepositoryState } from './repository-state.js';

export interface PublishInput {
  /** New versions of targets-role files (top-level targets, bins, hashed bins, supplier roles). */
  roles: NewMetadataRecord[];
  /** The root to sign snapshot and timestamp under (a new one is committed in the same batch). */
  root: Root;
  rootRecord?: NewMetadataRecord | undefined;
  /** The firmware the new snapshot adds, logged on chain with it. */
  firmware: ReleaseEntry['firmware'];
  /** The release whose status follows the publish, if any. */
  releaseId: number | null;
  /** The staging batch name; crash recovery reads `release:<id>` back. */
  batch: string;
  /** Log statements the new snapshot carries besides its release statement (a revocation's recalls). */
  alsoLog?: LogCall[];
}

export interface Published {
  metadataHash: string;
  metadataVersion: number;
  chain: ChainReceipt;
}

type MetadataKey = { role: MetadataRole; version: number };

interface Staged {
  keys: MetadataKey[];
  snapshotVersion: number;
  metadataHash: string;
}

export interface PublishPipelineOptions {
  store: RepositoryStore;
  state: RepositoryState;
  keys: OnlineKeys;
  releaseLog: ReleaseLog;
  config: Config;
  clock: Clock;
  logger: Logger;
  log: TransparencyLogSink | undefined;
}

/**
 * The one way served metadata changes: stage -> log the snapshot on chain -> wait for its
 * confirmation -> commit -> serve. Nothing staged is visible; the commit flips every changed role,
 * snapshot and timestamp in one store transaction. Callers hold the publish lock.
 */
export class PublishPipeline {
  readonly #deps: PublishPipelineOptions;
  readonly #committed: (() => void)[] = [];
  /** What each publish owes the transparency log, kept until it is appended (log-outbox.ts). */
  readonly outbox: LogOutbox;

  constructor(opts: PublishPipelineOptions) {
    this.#deps = opts;
    this.outbox = new LogOutbox({
      store: opts.store,
      log: opts.log,
      logger: opts.logger,
      clock: opts.clock,
    });
  }

  /** Calls `listener` after every commit (to drop what was derived from the old metadata). */
  onCommitted(listener: () => void): void {
    this.#committed.push(listener);
  }

  /** Publishes `p.roles` (and a new root) under a new snapshot and timestamp. */
  async publish(p: PublishInput): Promise<Published> {
    const staged = await this.#stage(p);
    const chain = await this.#logOnChain(staged, p);
    await this.#commit(staged.keys, p.releaseId, {
      status: 'confirmed',
      chain,
      metadataHash: staged.metadataHash,
    });
    await this.#serve(staged, p, chain);
    return { metadataHash: staged.metadataHash, metadataVersion: staged.snapshotVersion, chain };
  }

  /** Re-signs timestamp alone: the snapshot is unchanged, so there is nothing new to log. */
  async publishTimestamp(root: Root): Promise<void> {
    const now = this.#deps.clock();
    const current = await this.#deps.state.current('snapshot');
    const timestamp = buildTimestamp(
      (await this.#deps.store.maxVersion('timestamp')) + 1,
      expiryAfter(now, this.#deps.config.expiries.timestamp),
      current.version,
      current.bytes,
    );
    await signMetadata(timestamp, this.#deps.keys.forRole('timestamp', root));
    const rec = recordOf('timestamp', timestamp);
    await this.#deps.store.stageMetadata([rec], 'resign');
    await this.#commit([{ role: rec.role, version: rec.version }], null, undefined);
  }

  /**
   * Commits a batch staged before a crash, whose snapshot the chain holds (crash recovery), and
   * appends what it owes the transparency log.
   */
  async commitRecovered(
    keys: MetadataKey[],
    release: { id: number; patch: ReleasePatch } | undefined,
    chain: ChainReceipt,
  ): Promise<void> {
    await this.#commit(keys, release?.id ?? null, release?.patch);
    const snapshot = keys.find((k) => k.role === 'snapshot');
    if (snapshot) await this.outbox.settle(outboxId(snapshot.version), chain);
  }

  /** Builds and signs snapshot and timestamp over the new roles and stages the whole batch. */
  async #stage(p: PublishInput): Promise<Staged> {
    const now = this.#deps.clock();
    const versions = await this.#deps.state.roleVersions();
    for (const r of p.roles) versions.set(r.role, r.version);
    const snapshotVersion = (await this.#deps.store.maxVersion('snapshot')) + 1;
    const snapshot = buildSnapshot(
      snapshotVersion,
      expiryAfter(now, this.#deps.config.expiries.snapshot),
      versions,
    );
    await signMetadata(snapshot, this.#deps.keys.forRole('snapshot', p.root));
    const snapshotRec = recordOf('snapshot', snapshot);
    const timestamp = buildTimestamp(
      (await this.#deps.store.maxVersion('timestamp')) + 1,
      expiryAfter(now, this.#deps.config.expiries.timestamp),
      snapshotVersion,
      snapshotRec.bytes,
    );
    await signMetadata(timestamp, this.#deps.keys.forRole('timestamp', p.root));
    // Owed before anything is staged: a crash from here on leaves the statement in the outbox,
    // due if recovery commits the snapshot, dropped if it is abandoned.
    await this.outbox.owe(outboxId(snapshotVersion), snapshotVersion, [
      {
        kind: 'release',
        entry: {
          metadataVersion: snapshotVersion,
          metadataHash: `0x${snapshotRec.sha256}`,
          firmware: p.firmware,
        },
      },
      ...(p.alsoLog ?? []),
    ]);
    const records = [
      ...(p.rootRecord ? [p.rootRecord] : []),
      ...p.roles,
      snapshotRec,
      recordOf('timestamp', timestamp),
    ];
    await this.#deps.store.stageMetadata(records, p.batch);
    const metadataHash = `0x${snapshotRec.sha256}`;
    if (p.releaseId !== null) {
      await this.#deps.store.updateRelease(p.releaseId, {
        metadataHash,
        targetsVersion: snapshotVersion,
      });
    }
    return {
      keys: records.map((r) => ({ role: r.role, version: r.version })),
      snapshotVersion,
      metadataHash,
    };
  }

  /**
   * Logs the staged snapshot on chain and waits for its confirmation. The release follows the
   * chain (`logged` with tx and block once mined). If the chain refuses or times out, the batch is
   * abandoned (its versions are never reused) and CHAIN_LOG_FAILED is thrown.
   */
  async #logOnChain(staged: Staged, p: PublishInput): Promise<ChainReceipt> {
    const { store, logger } = this.#deps;
    const { snapshotVersion, metadataHash } = staged;
    let logged: Promise<void> = Promise.resolve();
    const onMined = (receipt: ChainReceipt): void => {
      const id = p.releaseId;
      if (id === null) return;
      logged = logged
        .then(() => store.updateRelease(id, { status: 'logged', chain: receipt }))
        .catch((error: unknown) => {
          logger.warn({ releaseId: id, err: errorText(error) }, 'release status update failed');
        });
    };
    try {
      const chain = await this.#deps.releaseLog.logRelease(
        { metadataVersion: snapshotVersion, metadataHash, firmware: p.firmware },
        { onMined },
      );
      await logged;
      return chain;
    } catch (error) {
      await logged;
      await store.abandonMetadata(staged.keys);
      await this.outbox.forget(outboxId(snapshotVersion));
      const message = `logging snapshot v${snapshotVersion} on chain failed: ${errorText(error)}`;
      if (p.releaseId !== null)
        await store.updateRelease(p.releaseId, { status: 'failed', error: message });
      logger.warn(
        { snapshotVersion, err: errorText(error) },
        'chain log failed; metadata not published',
      );
      throw new ServerError('CHAIN_LOG_FAILED', message, { cause: error });
    }
  }

  /** Flips the current pointers of the batch (and the release status) in one transaction. */
  async #commit(
    keys: MetadataKey[],
    releaseId: number | null,
    patch: ReleasePatch | undefined,
  ): Promise<void> {
    await this.#deps.store.commitMetadata(
      keys,
      releaseId !== null && patch ? { id: releaseId, patch } : undefined,
    );
    for (const listener of this.#committed) listener();
  }

  /** Now served: feed the transparency log what the snapshot owes it and say what was published. */
  async #serve(staged: Staged, p: PublishInput, chain: ChainReceipt): Promise<void> {
    const { snapshotVersion, metadataHash } = staged;
    await this.outbox.settle(outboxId(snapshotVersion), chain);
    this.#deps.logger.info(
      {
        snapshotVersion,
        roles: p.roles.map((r) => `${r.role}@${r.version}`),
        metadataHash,
        txHash: chain.txHash,
        blockNumber: chain.blockNumber,
      },
      'metadata published',
    );
  }
}

/** The outbox row of what snapshot `version` owes the log. */
function outboxId(version: number): string {
  return `snapshot:${version}`;
}
