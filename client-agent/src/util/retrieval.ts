import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import { errors as undiciErrors, request } from './undici.js';

/** The slow-retrieval limits of one request (see Config). */
export interface RetrievalLimits {
  minDownloadBytesPerSecond: number;
  downloadGraceMs: number;
  /** The whole request may take at most this long (none when undefined). */
  deadlineMs?: number;
}

/** How often a watch looks at its request: often enough for short test limits, at most 1/s. */
function checkPeriodMs(limits: RetrievalLimits): number {
  const shortest = Math.min(limits.downloadGraceMs, limits.deadlineMs ?? Infinity);
  return Math.max(10, Math.min(1000, shortest / 4));
}

/**
 * The slow-retrieval guard of one request, on the monotonic clock (a clock set back or forward
 * does not move it). By `t` ms after the request went out, at least
 * `minDownloadBytesPerSecond × (t − downloadGraceMs) / 1000` bytes must have come, and all of it by
 * `deadlineMs`; otherwise `onTooSlow` is called once with DOWNLOAD_TOO_SLOW. An inactivity
 * timeout alone never cuts a server that sends a byte every few seconds.
 */
export class RetrievalWatch {
  readonly #what: string;
  readonly #limits: RetrievalLimits;
  readonly #started = performance.now();
  readonly #timer: NodeJS.Timeout;
  #bytes = 0;

  constructor(what: string, limits: RetrievalLimits, onTooSlow: (err: AgentError) => void) {
    this.#what = what;
    this.#limits = limits;
    this.#timer = setInterval(() => {
      const err = this.#verdict();
      if (!err) return;
      this.stop();
      onTooSlow(err);
    }, checkPeriodMs(limits));
  }

  received(bytes: number): void {
    this.#bytes += bytes;
  }

  #verdict(): AgentError | undefined {
    const elapsed = performance.now() - this.#started;
    const { deadlineMs, downloadGraceMs: grace, minDownloadBytesPerSecond: rate } = this.#limits;
    if (deadlineMs !== undefined && elapsed > deadlineMs) {
      return new AgentError(
        'DOWNLOAD_TOO_SLOW',
        `${this.#what} took longer than ${Math.round(deadlineMs)} ms (${this.#bytes} bytes so far)`,
      );
    }
    if (rate > 0 && elapsed > grace && this.#bytes < (rate * (elapsed - grace)) / 1000) {
      return new AgentError(
        'DOWNLOAD_TOO_SLOW',
        `${this.#what} brought ${this.#bytes} bytes in ${Math.round(elapsed)} ms, slower than ${rate} bytes/s after ${grace} ms`,
      );
    }
    return undefined;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export interface BoundedRequest {
  dispatcher?: Dispatcher | undefined;
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
  /** The answer's body may hold at most this many bytes (ENDLESS_DATA beyond). */
  maxBytes: number;
  limits: RetrievalLimits;
  /** What is asked for, for messages (default: `GET <url>`). */
  what?: string;
}

export interface BoundedAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request whose answer is read whole, but never past `maxBytes` (ENDLESS_DATA) and never
 * slower than `limits` (DOWNLOAD_TOO_SLOW), whatever the status. On every failure the body is
 * destroyed, so the connection is released and closing the dispatcher cannot wait on it.
 * Network errors are thrown as undici throws them (see `toDownloadError`).
 */
export async function fetchBounded(url: string, req: BoundedRequest): Promise<BoundedAnswer> {
  const what = req.what ?? `${req.method ?? 'GET'} ${url}`;
  const aborter = new AbortController();
  let body: Dispatcher.ResponseData['body'] | undefined;
  const watch = new RetrievalWatch(what, req.limits, (err) => {
    aborter.abort(err);
    body?.destroy(err);
  });
  try {
    const res = await request(url, {
      method: req.method ?? 'GET',
      ...(req.dispatcher ? { dispatcher: req.dispatcher } : {}),
      ...(req.headers ? { headers: req.headers } : {}),
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: aborter.signal,
    });
    body = res.body;
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      throw new AgentError(
        'ENDLESS_DATA',
        `${what} announces ${declared} bytes, more than the ${req.maxBytes} accepted`,
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > req.maxBytes) {
        throw new AgentError('ENDLESS_DATA', `${what} sent more than ${req.maxBytes} bytes`);
      }
      watch.received(chunk.length);
      chunks.push(chunk);
    }
    return { statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) };
  } catch (err) {
    body?.destroy();
    if (aborter.signal.aborted) throw aborter.signal.reason;
    throw err;
  } finally {
    watch.stop();
  }
}

/** The agent's code for a failed download: its own refusals as they are, timeouts, the rest. */
export function toDownloadError(err: unknown, what: string): AgentError {
  if (err instanceof AgentError) return err;
  const timedOut =
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError;
  return new AgentError(
    timedOut ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED',
    `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

/** The slow-retrieval limits of an answer read whole (metadata, receipts, proofs...). */
export function answerLimits(
  cfg: Pick<Config, 'minDownloadBytesPerSecond' | 'downloadGraceMs' | 'metadataDeadlineMs'>,
): RetrievalLimits {
  return {
    minDownloadBytesPerSecond: cfg.minDownloadBytesPerSecond,
    downloadGraceMs: cfg.downloadGraceMs,
    deadlineMs: cfg.metadataDeadlineMs,
  };
}
