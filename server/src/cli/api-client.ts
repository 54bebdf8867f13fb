import { ApiError, CliError } from './error.js';

export interface ApiClientOptions {
  /** Base URL without a trailing slash. */
  baseUrl: string;
  token?: string;
  fetch: typeof fetch;
  /** Per-request limit; none by default (a publish waits for chain confirmations). */
  timeoutMs?: number;
}

type Body = Uint8Array | ReadableStream<Uint8Array> | string;

/** Times a request refused as SERVER_BUSY is sent again, each after the server's Retry-After. */
const BUSY_RETRIES = 5;
/** The longest Retry-After waited for (seconds); a longer one ends the retries. */
const BUSY_WAIT_MAX_SECONDS = 30;

/**
 * How long to wait before sending a request the server refused as busy again (ms), or undefined:
 * not `503 SERVER_BUSY` (other 503s may come after a request had effects), or no usable Retry-After.
 * SERVER_BUSY is answered before the request is read, so sending it again is always safe.
 */
async function busyWaitMs(res: Response): Promise<number | undefined> {
  if (res.status !== 503) return undefined;
  const header = res.headers.get('retry-after');
  const seconds = header === null || !/^\d{1,5}$/.test(header.trim()) ? NaN : Number(header);
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > BUSY_WAIT_MAX_SECONDS)
    return undefined;
  const code = await res
    .clone()
    .json()
    .then((b) => (b as { error?: { code?: unknown } } | null)?.error?.code)
    .catch(() => undefined);
  return code === 'SERVER_BUSY' ? seconds * 1000 : undefined;
}

/** A thin client of the server's HTTP API; errors become ApiError (server codes) or CliError. */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number | undefined;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl;
    this.#token = opts.token;
    this.#fetch = opts.fetch;
    this.#timeoutMs = opts.timeoutMs;
  }

  /** Sends once; again after Retry-After while the server answers SERVER_BUSY (bounded). */
  async #send(
    method: string,
    path: string,
    init: { body?: Body; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<Response> {
    for (let retry = 0; ; retry++) {
      const res = await this.#sendOnce(method, path, init);
      // A stream body (a firmware upload) has been consumed: it cannot go out again.
      if (retry === BUSY_RETRIES || init.body instanceof ReadableStream) return res;
      const waitMs = await busyWaitMs(res);
      if (waitMs === undefined) return res;
      await res.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  async #sendOnce(
    method: string,
    path: string,
    init: { body?: Body; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.auth !== false && this.#token !== undefined) {
      headers.authorization = `Bearer ${this.#token}`;
    }
    const request: RequestInit & { duplex?: 'half' } = { method, headers };
    if (this.#timeoutMs !== undefined) request.signal = AbortSignal.timeout(this.#timeoutMs);
    if (init.body !== undefined) {
      request.body = init.body;
      // A stream body goes out as it is read; never buffered whole.
      if (init.body instanceof ReadableStream) request.duplex = 'half';
    }
    try {
      return await this.#fetch(`${this.baseUrl}${path}`, request);
    } catch (error) {
      if ((error as { name?: unknown }).name === 'TimeoutError') {
        throw new CliError(
          'TIMEOUT',
          `${method} ${this.baseUrl}${path}: no answer within ${this.#timeoutMs} ms`,
          { cause: error },
        );
      }
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const detail = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
      throw new CliError('SERVER_UNREACHABLE', `${method} ${this.baseUrl}${path} failed${detail}`, {
        cause: error,
      });
    }
  }

  async #parse<T>(res: Response, method: string, path: string): Promise<T> {
    const text = await res.text();
    let body: unknown;
    try {
      body = text.length === 0 ? undefined : (JSON.parse(text) as unknown);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (typeof err?.code === 'string') {
        throw new ApiError(
          err.code,
          res.status,
          typeof err.message === 'string' ? err.message : err.code,
        );
      }
      throw new ApiError(`HTTP_${res.status}`, res.status, `${method} ${path}: HTTP ${res.status}`);
    }
    if (body === undefined) {
      throw new CliError('UNEXPECTED_RESPONSE', `${method} ${path}: the server answered no JSON`);
    }
    return body as T;
  }

  async json<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<{ body: T; headers: Headers; status: number }> {
    const res = await this.#send(method, path, {
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
      headers: {
        accept: 'application/json',
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...opts.headers,
      },
      ...(opts.auth === undefined ? {} : { auth: opts.auth }),
    });
    return {
      body: await this.#parse<T>(res, method, path),
      headers: res.headers,
      status: res.status,
    };
  }

  /** PUT of raw bytes or a byte stream (`application/octet-stream`). */
  async put<T>(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    length?: number,
  ): Promise<T> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/octet-stream',
    };
    if (length !== undefined) headers['content-length'] = String(length);
    const res = await this.#send('PUT', path, { body, headers });
    return this.#parse<T>(res, 'PUT', path);
  }

  /** GET of a public file (metadata); no token sent. */
  async getBytes(path: string): Promise<Uint8Array> {
    const res = await this.#send('GET', path, { auth: false });
    if (!res.ok) await this.#parse(res, 'GET', path);
    return new Uint8Array(await res.arrayBuffer());
  }

  /** GET of a public file as a byte stream (a target image: never buffered whole); no token sent. */
  async getStream(path: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#send('GET', path, { auth: false });
    if (!res.ok || res.body === null) await this.#parse(res, 'GET', path);
    if (res.body === null) {
      throw new CliError('UNEXPECTED_RESPONSE', `GET ${path}: the server answered no body`);
    }
    return res.body;
  }
}
