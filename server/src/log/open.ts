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
import { buildInclusionPromise, type InclusionPromise, type PromisingLog } from './promise.js';

/** LogService that also signs inclusion promises for install reports (see inclusionPromise). */
export class ServerLog extends LogService implements PromisingLog {
  readonly #signers: readonly NoteSigner[];
  readonly #origin: string;

  constructor(opts: LogServiceOptions) {
    super(opts);
    this.#signers = opts.signers;
    this.#origin = opts.origin;
  }

  inclusionPromise(index: number): Promise<InclusionPromise> {
    return buildInclusionPromise(this.log, index, (size) =>
      signCheckpoint(
        { origin: this.#origin, size, rootHash: this.log.root(size), extensions: [] },
        this.#signers,
      ),
    );
  }
}

export interface ServerLogOptions {
  /** The server's data dir; the log lives in `<dataDir>/log.sqlite`. */
  dataDir: string;
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
export function openServerLog(opts: ServerLogOptions): ServerLog {
  const a = opts.anchoring;
  const service = new ServerLog({
    database: join(opts.dataDir, 'log.sqlite'),
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
  service.start();
  return service;
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
