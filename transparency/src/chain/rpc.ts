import { TransparencyError } from '../error.js';

export interface RpcBlock {
  number: number;
  hash: string;
  timestamp: number;
}

export interface RpcLog {
  blockNumber: number;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
  topics: string[];
  data: string;
  removed: boolean;
}

export interface RpcEndpointOptions {
  /** When set, the endpoint must serve this chain. */
  chainId?: number | undefined;
  /** Deadline of one request, from sending it to the last byte of the answer. */
  timeoutMs: number;
  /** Largest answer body accepted; a longer one is cut off and the request fails. */
  maxResponseBytes: number;
}

const toNum = (hex: unknown): number => {
  if (typeof hex !== 'string' || !/^0x[0-9a-fA-F]+$/.test(hex)) {
    throw new TransparencyError('RPC_UNAVAILABLE', 'RPC answered a malformed quantity');
  }
  return Number.parseInt(hex, 16);
};

const toHex = (n: number) => '0x' + n.toString(16);

/**
 * One JSON-RPC endpoint: one POST per call over WHATWG fetch (undici inside Node), no batching,
 * caching, polling or network probing, so every answer comes from the endpoint right now.
 * Each request has an overall deadline and a byte cap that both hold while the body streams, and
 * can be cancelled by the caller (the quorum aborts the endpoints it no longer needs). The chunks
 * of an answer are joined once, at the end.
 */
export class RpcEndpoint {
  readonly url: string;
  readonly #expectedChainId: number | undefined;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  #chainIdChecked = false;
  #nextId = 1;

  constructor(url: string, opts: RpcEndpointOptions) {
    this.url = url;
    this.#expectedChainId = opts.chainId;
    this.#timeoutMs = opts.timeoutMs;
    this.#maxResponseBytes = opts.maxResponseBytes;
  }

  async #send(method: string, params: unknown[], signal?: AbortSignal): Promise<unknown> {
    const what = `${method} on ${this.url}`;
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const fail = (reason: string, cause?: unknown): TransparencyError =>
      new TransparencyError('RPC_UNAVAILABLE', `${what}: ${reason}`, { cause });
    const whyAborted = (cause: unknown): TransparencyError =>
      signal?.aborted
        ? fail('cancelled (the quorum no longer needs this endpoint)', cause)
        : deadline.aborted
          ? fail(`no complete answer within ${this.#timeoutMs} ms`, cause)
          : fail('request failed', cause);
    const id = this.#nextId++;
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: combined,
        redirect: 'error',
      });
    } catch (err) {
      throw whyAborted(err);
    }
    const body = res.body;
    if (!res.ok || body === null) {
      await body?.cancel().catch(() => undefined);
      throw fail(`HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (declared > this.#maxResponseBytes) {
      await body.cancel().catch(() => undefined);
      throw fail(`answer of ${declared} bytes exceeds ${this.#maxResponseBytes}`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > this.#maxResponseBytes) {
          await reader.cancel().catch(() => undefined);
          throw fail(`answer exceeds ${this.#maxResponseBytes} bytes`);
        }
        chunks.push(value);
      }
    } catch (err) {
      if (err instanceof TransparencyError) throw err;
      throw whyAborted(err);
    }
    let answer: { id?: unknown; result?: unknown; error?: { message?: unknown } | null };
    try {
      answer = JSON.parse(Buffer.concat(chunks, total).toString('utf8')) as typeof answer;
    } catch (err) {
      throw fail('answer is not JSON', err);
    }
    if (answer === null || typeof answer !== 'object' || answer.id !== id) {
      throw fail('answer is not a JSON-RPC response to this request');
    }
    if (answer.error !== undefined) {
      const message = answer.error?.message;
      throw fail(`JSON-RPC error${typeof message === 'string' ? ` ${message}` : ''}`);
    }
    if (!('result' in answer)) throw fail('JSON-RPC response without a result');
    return answer.result;
  }

  async #ensureChainId(signal?: AbortSignal): Promise<void> {
    if (this.#chainIdChecked || this.#expectedChainId === undefined) return;
    const chainId = toNum(await this.#send('eth_chainId', [], signal));
    if (chainId !== this.#expectedChainId) {
      throw new TransparencyError(
        'CHAIN_ID_MISMATCH',
        `${this.url} serves chain ${chainId}, expected ${this.#expectedChainId}`,
      );
    }
    this.#chainIdChecked = true;
  }

  async chainId(signal?: AbortSignal): Promise<number> {
    return toNum(await this.#send('eth_chainId', [], signal));
  }

  async blockNumber(signal?: AbortSignal): Promise<number> {
    await this.#ensureChainId(signal);
    return toNum(await this.#send('eth_blockNumber', [], signal));
  }

  async block(blockNumber: number, signal?: AbortSignal): Promise<RpcBlock | null> {
    await this.#ensureChainId(signal);
    const b = (await this.#send('eth_getBlockByNumber', [toHex(blockNumber), false], signal)) as {
      number?: string;
      hash?: string;
      timestamp?: string;
    } | null;
    if (b === null) return null;
    if (typeof b !== 'object' || typeof b.hash !== 'string')
      throw new TransparencyError('RPC_UNAVAILABLE', 'malformed block');
    return { number: toNum(b.number), hash: b.hash.toLowerCase(), timestamp: toNum(b.timestamp) };
  }

  async logs(
    filter: {
      address: string;
      topics: (string | null)[];
      fromBlock: number;
      toBlock: number | 'latest';
    },
    signal?: AbortSignal,
  ): Promise<RpcLog[]> {
    await this.#ensureChainId(signal);
    const raw = await this.#send(
      'eth_getLogs',
      [
        {
          address: filter.address,
          topics: filter.topics,
          fromBlock: toHex(filter.fromBlock),
          toBlock: filter.toBlock === 'latest' ? 'latest' : toHex(filter.toBlock),
        },
      ],
      signal,
    );
    if (!Array.isArray(raw))
      throw new TransparencyError('RPC_UNAVAILABLE', 'malformed eth_getLogs answer');
    return raw.map((l: Record<string, unknown>) => {
      if (l === null || typeof l !== 'object' || !Array.isArray(l.topics)) {
        throw new TransparencyError('RPC_UNAVAILABLE', 'malformed log in eth_getLogs answer');
      }
      return {
        blockNumber: toNum(l.blockNumber),
        blockHash: String(l.blockHash).toLowerCase(),
        transactionHash: String(l.transactionHash).toLowerCase(),
        logIndex: toNum(l.logIndex),
        topics: (l.topics as unknown[]).map((t) => String(t).toLowerCase()),
        data: String(l.data).toLowerCase(),
        removed: l.removed === true,
      };
    });
  }

  async call(to: string, data: string, blockNumber: number, signal?: AbortSignal): Promise<string> {
    await this.#ensureChainId(signal);
    const out = await this.#send('eth_call', [{ to, data }, toHex(blockNumber)], signal);
    if (typeof out !== 'string')
      throw new TransparencyError('RPC_UNAVAILABLE', 'malformed eth_call answer');
    return out.toLowerCase();
  }

  /** Nothing to release: each request owns its connection use and ends with it. */
  destroy(): void {}
}
