/**
 * Answers a hostile server gives, for the agent's attack tests: an endless body, a huge one, a
 * trickle. Each writes with backpressure and stops when the agent hangs up, so none outlives its
 * test; `sent` tells how far the agent let it get.
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

const CHUNK = randomBytes(64 * 1024);

export interface HostileAnswer {
  /** Bytes the server handed to the socket before the agent hung up (or it finished). */
  sent: number;
  /** Resolves once the connection closed. */
  closed: Promise<void>;
}

/**
 * Writes `total` bytes (Infinity: forever) as fast as the agent reads them, with `status` and no
 * content-length (chunked), as a man in the middle would.
 */
export function serveHuge(
  res: ServerResponse,
  total = Infinity,
  status = 200,
  headers: Record<string, string | number> = {},
): HostileAnswer {
  const answer: HostileAnswer = {
    sent: 0,
    closed: new Promise((resolve) => res.once('close', () => resolve())),
  };
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  const pump = (): void => {
    while (!res.destroyed && answer.sent < total) {
      const n = Math.min(CHUNK.length, total - answer.sent);
      answer.sent += n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
  return answer;
}

/** Sends `bytes` one byte every `everyMs` (a slow-retrieval attack); stops when the agent hangs up. */
export function serveTrickle(
  res: ServerResponse,
  bytes: Uint8Array,
  everyMs: number,
  headers: Record<string, string | number> = {},
): HostileAnswer {
  const answer: HostileAnswer = {
    sent: 0,
    closed: new Promise((resolve) => res.once('close', () => resolve())),
  };
  res.writeHead(200, { 'content-length': bytes.length, ...headers });
  const timer = setInterval(() => {
    if (res.destroyed || answer.sent >= bytes.length) {
      clearInterval(timer);
      if (!res.destroyed) res.end();
      return;
    }
    res.write(bytes.subarray(answer.sent, answer.sent + 1));
    answer.sent += 1;
  }, everyMs);
  res.once('close', () => clearInterval(timer));
  return answer;
}
