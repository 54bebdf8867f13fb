import { TransparencyError } from '../error.js';

/** Where the auditor reads the transparency log from. */
export interface LogAuditSource {
  /** Every signed checkpoint note the log has published, any order. */
  checkpoints: () => Promise<string[]>;
  /** Leaf inputs of entries [start, end). */
  entries: (start: number, end: number) => Promise<Uint8Array[]>;
  /** The proof bundle of entry `index` against a confirmed anchor, when the log serves them. */
  proofBundle?: (index: number) => Promise<unknown>;
}

/**
 * LogAuditSource over the server's public log routes:
 * `GET /api/v1/log/checkpoints` -> `{ checkpoints: string[] }` and
 * `GET /api/v1/log/entries?start=S&end=E` -> `{ entries: string[] /* base64 leaf inputs *\/ }`,
 * `GET /api/v1/log/proof-bundle?index=N` -> a ProofBundle (optional; used for audit packs).
 */
export function createHttpLogAuditSource(
  baseUrl: string,
  opts: { timeoutMs?: number } = {},
): LogAuditSource {
  const base = baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  async function json(path: string): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} failed`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} answered ${res.status}`);
    }
    try {
      return (await res.json()) as Record<string, unknown>;
    } catch (err) {
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} answered invalid JSON`, {
        cause: err,
      });
    }
  }
  return {
    async checkpoints() {
      const body = await json('/api/v1/log/checkpoints');
      if (
        !Array.isArray(body.checkpoints) ||
        !body.checkpoints.every((c) => typeof c === 'string')
      ) {
        throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', 'checkpoints answer is malformed');
      }
      return body.checkpoints;
    },
    async entries(start, end) {
      const body = await json(`/api/v1/log/entries?start=${start}&end=${end}`);
      if (!Array.isArray(body.entries) || !body.entries.every((e) => typeof e === 'string')) {
        throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', 'entries answer is malformed');
      }
      return body.entries.map((e) => new Uint8Array(Buffer.from(e, 'base64')));
    },
    async proofBundle(index) {
      return json(`/api/v1/log/proof-bundle?index=${index}`);
    },
  };
}

/** A LogAuditSource reading a local log directly (the server's own store, or a copy of it). */
export function createLocalLogAuditSource(log: {
  storage: {
    checkpoints(): Promise<{ note: string }[]>;
    entries(start: number, end: number): Promise<{ data: Uint8Array }[]>;
  };
}): LogAuditSource {
  return {
    checkpoints: async () => (await log.storage.checkpoints()).map((c) => c.note),
    entries: async (start, end) => (await log.storage.entries(start, end)).map((e) => e.data),
  };
}
