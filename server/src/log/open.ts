import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { createNoteSigner, LogService, type AnchorConfig } from '@tufchain/transparency';
import type { Signer as ChainSigner } from 'ethers';
import type { Logger } from 'pino';

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
export function openServerLog(opts: ServerLogOptions): LogService {
  const a = opts.anchoring;
  const service = new LogService({
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
            onError: (err) =>
              opts.logger.warn({ code: err.code, err: err.message }, 'anchoring retries'),
          },
        }
      : {}),
  });
  service.start();
  return service;
}
