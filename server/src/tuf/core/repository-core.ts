import type { Logger } from 'pino';
import type { AttestationVerifier } from '../../attestation/verifier.js';
import type { Clock, Config } from '../../config.js';
import type { TransparencyLogSink } from '../../log-sink.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { RepositoryStore } from '../../storage/store.js';
import type { OnlineSigners } from '../metadata.js';
import type { ReleaseLog } from '../release-log.js';
import { OnlineKeys } from './online-keys.js';
import { createProcessLock, type PublishLock } from './publish-lock.js';
import { PublishPipeline } from './publish-pipeline.js';
import { RepositoryState } from './repository-state.js';

export interface RepositoryMetrics {
  onPublish?(ms: number, ok: boolean): void;
  onResign?(role: string): void;
}

export interface RepositoryCoreOptions {
  store: RepositoryStore;
  blobs: BlobStore;
  signers: OnlineSigners;
  releaseLog: ReleaseLog;
  verifier: AttestationVerifier;
  config: Config;
  clock: Clock;
  logger: Logger;
  metrics?: RepositoryMetrics | undefined;
  /** Transparency log fed with every published snapshot and every recall. */
  log?: TransparencyLogSink | undefined;
  /** Serializes publishes; by default an in-process mutex (one server process per store). */
  lock?: PublishLock | undefined;
}

/**
 * What every capability of the image repository works on (releases, revocation, uploads, root
 * rotation, supplier delegations, expiry re-signing, recovery, status): the store, what is
 * served now, the online keys, the publish pipeline and the lock that serializes it. A new
 * capability is a module of functions taking this core, not a new method section.
 */
export interface RepositoryCore {
  readonly store: RepositoryStore;
  readonly blobs: BlobStore;
  readonly state: RepositoryState;
  readonly keys: OnlineKeys;
  readonly pipeline: PublishPipeline;
  readonly lock: PublishLock;
  readonly releaseLog: ReleaseLog;
  readonly verifier: AttestationVerifier;
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: RepositoryMetrics | undefined;
}

export function createRepositoryCore(opts: RepositoryCoreOptions): RepositoryCore {
  const state = new RepositoryState(opts.store);
  const keys = new OnlineKeys(opts.signers);
  return {
    store: opts.store,
    blobs: opts.blobs,
    state,
    keys,
    pipeline: new PublishPipeline({
      store: opts.store,
      state,
      keys,
      releaseLog: opts.releaseLog,
      config: opts.config,
      clock: opts.clock,
      logger: opts.logger,
      log: opts.log,
    }),
    lock: opts.lock ?? createProcessLock(),
    releaseLog: opts.releaseLog,
    verifier: opts.verifier,
    config: opts.config,
    clock: opts.clock,
    logger: opts.logger,
    metrics: opts.metrics,
  };
}
