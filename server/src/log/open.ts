import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import {
  createNoteSigner,
  LogService,
  signCheckpoint,
  type AnchorConfig,
  type LogServiceOptions,
  type NoteSigner,
  type TransparencyError,
} from '@tufchain/transparency';
import type { Signer as ChainSigner } from 'ethers';
import type { Logger } from 'pino';
import type { SharedLog } from '../storage/open.js';
import type { JobLease } from '../storage/postgres-lease.js';
import { errorText } from '../tuf/error-text.js';
import { parseLogNotification } from './postgres-log.js';
import { buildInclusionPromise, type InclusionPromise, type PromisingLog } from './promise.js';

/** Signed checkpoints kept for inclusion promises: the sizes of the last few group commits. */
const NOTE_MEMO_SIZES = 64;

/** LogService that also signs inclusion promises for install reports (see inclusionPromise). */
export class ServerLog extends LogService implements PromisingLog {
  readonly #signers: readonly NoteSigner[];
  readonly #origin: string;
  readonly #notes = new Map<number, Promise<string>>();
  /** Run at close, before the stores close: the anchoring lease loop and the append watch. */
  readonly onClose: (() => Promise<void>)[] = [];

  constructor(opts: LogServiceOptions) {
    super(opts);
    this.#signers = opts.signers;
    this.#origin = opts.origin;
  }

  override async close(): Promise<void> {
    for (const stop of this.onClose.splice(0)) await stop();
    await super.close();
  }

  inclusionPromise(index: number): Promise<InclusionPromise> {
    return buildInclusionPromise(this.log, index, (size) => this.#checkpointNote(size));
  }

  async appendInstallAttestationPromised(bundle: unknown): Promise<InclusionPromise> {
    const at = await this.appendInstallAttestationSized(bundle);
    return {
      logIndex: at.index,
      leafHash: `0x${Buffer.from(at.leafHash).toString('hex')}`,
      treeSize: at.treeSize,
      checkpoint: await this.#checkpointNote(at.treeSize),
    };
  }

  /**
   * The signed checkpoint at `size`, signed once for every report of a group commit (they share
   * the size). A checkpoint's content is fixed by its size, so the memo never goes stale.
   */
  #checkpointNote(size: number): Promise<string> {
    let note = this.#notes.get(size);
    if (!note) {
      note = this.log
        .root(size)
        .then((rootHash) =>
          signCheckpoint({ origin: this.#origin, size, rootHash, extensions: [] }, this.#signers),
        );
      this.#notes.set(size, note);
      note.catch(() => this.#notes.delete(size));
      if (this.#notes.size > NOTE_MEMO_SIZES) this.#notes.delete(this.#notes.keys().next().value!);
    }
    return note;
  }
}

export interface ServerLogOptions {
  /** The server's data dir; without `shared`, the log lives in `<dataDir>/log.sqlite`. */
  dataDir: string;
  /**
   * The log every replica on one PostgreSQL database shares (OpenedRepository.sharedLog). Then
   * only the holder of `anchorLease` anchors, and it hears of other replicas' appends.
   */
  shared?: SharedLog & { anchorLease: JobLease; leaseCheckMs?: number };
  /** Checkpoint origin, e.g. `updates.example.com/log`. */
  origin: string;
  /** Ed25519 key that signs checkpoints (C2SP signed notes). */
  noteKey: KeyObject;
  /** Without it the log signs checkpoints but nothing is anchored (no proof bundles). */
  anchoring?: {
    /** Log operator account (needs the contract's log-operator role). */
    signer: ChainSigner;
    contractAddress: string;
    chainId: number;
    fromBlock?: number;
    config?: Partial<AnchorConfig>;
  };
  logger: Logger;
}

/**
 * Opens the server's transparency log and starts its anchoring service. The caller owns it:
 * pass it as `ServerDeps.transparencyLog`, and `close()` it after the HTTP server (it waits for
 * the anchoring loop; whatever is still unanchored stays in the durable outbox for the next start).
 */
export async function openServerLog(opts: ServerLogOptions): Promise<ServerLog> {
  const a = opts.anchoring;
  const service = new ServerLog({
    database: opts.shared?.stores ?? join(opts.dataDir, 'log.sqlite'),
    origin: opts.origin,
    signers: [createNoteSigner(opts.origin, opts.noteKey)],
    ...(a
      ? {
          anchoring: {
            signer: a.signer,
            contractAddress: a.contractAddress,
            chainId: a.chainId,
            ...(a.fromBlock === undefined ? {} : { fromBlock: a.fromBlock }),
            ...(a.config ? { config: a.config } : {}),
            onError: anchoringErrorLogger(opts.logger),
          },
        }
      : {}),
  });
  service.anchors?.onHealthChange((h) => {
    const fields = {
      pending: h.pending,
      sent: h.sent,
      oldestWaitingSeconds: Math.round(h.oldestOpenAgeMs / 1000),
      consecutiveFailures: h.consecutiveFailures,
      lastErrorCode: h.lastError?.code,
      lastConfirmedSize: h.lastConfirmedSize,
    };
    if (h.stalled) opts.logger.error({ ...fields, reason: h.stallReason }, 'anchoring stalled');
    else opts.logger.info(fields, 'anchoring resumed');
  });
  if (opts.shared && service.anchors) await anchorWhileLeased(service, opts.shared, opts.logger);
  else service.start();
  return service;
}

/** How often a replica checks the anchoring lease; the lease lasts three checks. */
export const ANCHOR_LEASE_CHECK_MS = 5_000;
/** The lease's name in `job_leases`. */
export const ANCHOR_LEASE = 'anchoring';

/**
 * Anchoring on several replicas: one chain account, so exactly one replica may sign anchors at a
 * time. Each replica checks the lease every `leaseCheckMs`; the holder runs the AnchorService and
 * hears of the others' appends (LOG_CHANNEL), the rest only append. The outbox is shared, so a
 * replica that takes over follows what the last holder signed rather than signing it again.
 */
async function anchorWhileLeased(
  service: ServerLog,
  shared: NonNullable<ServerLogOptions['shared']>,
  logger: Logger,
): Promise<void> {
  const anchors = service.anchors!;
  let running = false;
  let checking: Promise<void> | undefined;
  const check = async (): Promise<void> => {
    let held = false;
    try {
      held = await shared.anchorLease.hold();
    } catch (error) {
      logger.warn({ err: errorText(error) }, 'anchoring lease check failed');
    }
    if (held && !running) {
      running = true;
      anchors.start();
      logger.info('anchoring on this replica (lease taken)');
    } else if (!held && running) {
      running = false;
      await anchors.stop();
      logger.info('anchoring stopped on this replica (lease lost)');
    }
  };
  const tick = () => {
    checking ??= check().finally(() => {
      checking = undefined;
    });
    return checking;
  };
  const watch = await shared.watchAppends((payload) => {
    if (!running) return;
    const note = payload === undefined ? undefined : parseLogNotification(payload);
    // A reconnection (no payload) may have missed anything: look at once.
    const urgent = !note || note.kinds.some((k) => k === 'release' || k === 'recall');
    anchors.notifyAppended({ urgent });
  });
  const timer = setInterval(() => void tick(), shared.leaseCheckMs ?? ANCHOR_LEASE_CHECK_MS);
  timer.unref();
  service.onClose.push(async () => {
    clearInterval(timer);
    await checking;
    await watch.close();
    if (running) await anchors.stop();
    running = false;
    await shared.anchorLease
      .release()
      .catch((error: unknown) =>
        logger.warn({ err: errorText(error) }, 'could not give the anchoring lease up'),
      );
  });
  await tick();
}

/** How often the same anchoring error code is logged again while it keeps happening. */
const REPEAT_LOG_MS = 60_000;

/**
 * Logs each anchoring error (code and message, never a key: signing happens behind the signer
 * seam) the first time its code shows up and then at most once a minute, so a failure that
 * repeats at every poll is visible without flooding the log.
 */
function anchoringErrorLogger(logger: Logger): (err: TransparencyError) => void {
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  return (err) => {
    const now = Date.now();
    const seen = lastLogged.get(err.code);
    if (seen && now - seen.at < REPEAT_LOG_MS) {
      seen.suppressed++;
      return;
    }
    lastLogged.set(err.code, { at: now, suppressed: 0 });
    logger.warn(
      { code: err.code, err: err.message, repeatedSinceLastLog: seen?.suppressed ?? 0 },
      'anchoring failed; retrying',
    );
  };
}
