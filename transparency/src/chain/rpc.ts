import { FetchRequest, JsonRpcProvider, Network } from 'ethers';
import { TransparencyError } from '../error.js';
import { mapChainError } from './errors.js';

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

const toNum = (hex: unknown): number => {
  if (typeof hex !== 'string' || !/^0x[0-9a-fA-F]+$/.test(hex)) {
    throw new TransparencyError('RPC_UNAVAILABLE', 'RPC answered a malformed quantity');
  }
  return Number.parseInt(hex, 16);
};

const toHex = (n: number) => '0x' + n.toString(16);

/**
 * One JSON-RPC endpoint. Raw JSON-RPC methods through an ethers JsonRpcProvider with a static
 * network (no chain-id probing, no polling, no batching, no caching), so every answer comes from
 * the endpoint right now and a dead endpoint fails fast instead of being retried forever.
 */
export class RpcEndpoint {
  readonly url: string;
  readonly #provider: JsonRpcProvider;
  readonly #expectedChainId: number | undefined;
  #chainIdChecked = false;

  constructor(url: string, opts: { chainId?: number | undefined; timeoutMs: number }) {
    this.url = url;
    const request = new FetchRequest(url);
    request.timeout = opts.timeoutMs;
    const network = Network.from(opts.chainId ?? 1);
    this.#provider = new JsonRpcProvider(request, network, {
      staticNetwork: network,
      batchMaxCount: 1,
      cacheTimeout: -1,
    });
    this.#expectedChainId = opts.chainId;
  }

  async #send(method: string, params: unknown[]): Promise<unknown> {
    try {
      return await this.#provider.send(method, params);
    } catch (err) {
      throw mapChainError(err, `${method} on ${this.url}`);
    }
  }

  async #ensureChainId(): Promise<void> {
    if (this.#chainIdChecked || this.#expectedChainId === undefined) return;
    const chainId = toNum(await this.#send('eth_chainId', []));
    if (chainId !== this.#expectedChainId) {
      throw new TransparencyError(
        'CHAIN_ID_MISMATCH',
        `${this.url} serves chain ${chainId}, expected ${this.#expectedChainId}`,
      );
    }
    this.#chainIdChecked = true;
  }

  async chainId(): Promise<number> {
    return toNum(await this.#send('eth_chainId', []));
  }

  async blockNumber(): Promise<number> {
    await this.#ensureChainId();
    return toNum(await this.#send('eth_blockNumber', []));
  }

  async block(blockNumber: number): Promise<RpcBlock | null> {
    await this.#ensureChainId();
    const b = (await this.#send('eth_getBlockByNumber', [toHex(blockNumber), false])) as {
      number?: string;
      hash?: string;
      timestamp?: string;
    } | null;
    if (b === null) return null;
    if (typeof b.hash !== 'string')
      throw new TransparencyError('RPC_UNAVAILABLE', 'malformed block');
    return { number: toNum(b.number), hash: b.hash.toLowerCase(), timestamp: toNum(b.timestamp) };
  }

  async logs(filter: {
    address: string;
    topics: (string | null)[];
    fromBlock: number;
    toBlock: number | 'latest';
  }): Promise<RpcLog[]> {
    await this.#ensureChainId();
    const raw = await this.#send('eth_getLogs', [
      {
        address: filter.address,
        topics: filter.topics,
        fromBlock: toHex(filter.fromBlock),
        toBlock: filter.toBlock === 'latest' ? 'latest' : toHex(filter.toBlock),
      },
    ]);
    if (!Array.isArray(raw))
      throw new TransparencyError('RPC_UNAVAILABLE', 'malformed eth_getLogs answer');
    return raw.map((l: Record<string, unknown>) => ({
      blockNumber: toNum(l.blockNumber),
      blockHash: String(l.blockHash).toLowerCase(),
      transactionHash: String(l.transactionHash).toLowerCase(),
      logIndex: toNum(l.logIndex),
      topics: (l.topics as string[]).map((t) => t.toLowerCase()),
      data: String(l.data).toLowerCase(),
      removed: l.removed === true,
    }));
  }

  async call(to: string, data: string, blockNumber: number): Promise<string> {
    await this.#ensureChainId();
    const out = await this.#send('eth_call', [{ to, data }, toHex(blockNumber)]);
    if (typeof out !== 'string')
      throw new TransparencyError('RPC_UNAVAILABLE', 'malformed eth_call answer');
    return out.toLowerCase();
  }

  destroy(): void {
    this.#provider.destroy();
  }
}
