import { getAddress } from 'ethers';
import { hardwareIdHash } from '@tufchain/contracts';
import { TransparencyError } from '../error.js';
import { normalizeHash32 } from '../util/hex.js';
import {
  checkpointAnchoredTopics,
  decodeCheckpointAnchored,
  decodeReleaseLogged,
  releaseLoggedTopics,
  tufchainLogInterface,
  type DecodedRelease,
} from './abi.js';
import { askQuorum, decideAgreement, decideHead, headWindowFloor, quorumFloor } from './quorum.js';
import { RpcEndpoint, type RpcLog } from './rpc.js';
import type {
  AnchoredCheckpoint,
  ChainReceipt,
  ConfirmedBlock,
  ContractEvent,
  LoggedRelease,
  MinimumVersionEvent,
  RecallEvent,
} from './types.js';

export interface ChainReaderOptions {
  rpcUrls: string[];
  /** How many endpoints must give the same answer. */
  quorum: number;
  contractAddress: string;
  /** Depth an entry's block must reach (its own block counts as one). */
  confirmations: number;
  /** When set, every endpoint must serve this chain. */
  chainId?: number;
  /** First block to scan for events (the contract's deployment block). */
  fromBlock?: number;
  /**
   * Deadline of each request to an endpoint, from sending it to the last byte of the answer
   * (default 10 s). An endpoint that misses it counts as unavailable.
   */
  timeoutMs?: number;
  /** Largest answer accepted from an endpoint (default 32 MiB); longer ones are cut off. */
  maxResponseBytes?: number;
  /**
   * How far apart (in blocks) the heads of `quorum` endpoints may be for the reader to decide
   * without waiting for the other endpoints (default 2). The confirmed head is then the lowest of
   * those heads, so a fast minority reporting a head far below the rest is outvoted, and one
   * within the spread can hold confirmations back by at most this many blocks.
   */
  headSpread?: number;
  /** Largest block range per eth_getLogs request. */
  maxBlockRange?: number;
}

/** Sized for a full eth_getLogs replay of a long release history, far below what would hurt. */
export const DEFAULT_MAX_RPC_RESPONSE_BYTES = 32 * 1024 * 1024;

type FoundRelease = Omit<LoggedRelease, 'confirmations'>;

function toFound(log: RpcLog, decoded: DecodedRelease): FoundRelease {
  return {
    ...decoded,
    txHash: log.transactionHash,
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
  };
}

const EVENT_TOPICS = new Map(
  ['ReleaseLogged', 'Recalled', 'MinimumVersionSet', 'CheckpointAnchored'].map((name) => [
    tufchainLogInterface.getEvent(name)?.topicHash,
    name,
  ]),
);

/** The monitored events of one log; other events of the contract (roles, admin) give none. */
function toContractEvent(log: RpcLog): ContractEvent[] {
  const at = {
    txHash: log.transactionHash,
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
    logIndex: log.logIndex,
  };
  const name = EVENT_TOPICS.get(log.topics[0]?.toLowerCase());
  if (name === 'ReleaseLogged') return [{ kind: 'release', ...at, ...decodeReleaseLogged(log) }];
  if (name === 'CheckpointAnchored')
    return [{ kind: 'anchor', ...at, ...decodeCheckpointAnchored(log) }];
  if (name === undefined) return [];
  const parsed = tufchainLogInterface.parseLog({ topics: log.topics, data: log.data });
  if (!parsed) throw new TransparencyError('INVALID_ENTRY', `undecodable ${name} log`);
  return name === 'Recalled'
    ? [
        {
          kind: 'recall',
          ...at,
          subject: String(parsed.args.getValue('subject')).toLowerCase(),
          reason: String(parsed.args.getValue('reason')),
        },
      ]
    : [
        {
          kind: 'minimumVersion',
          ...at,
          hardwareIdHash: String(parsed.args.getValue('hardwareId')).toLowerCase(),
          version: Number(parsed.args.getValue('version') as bigint),
        },
      ];
}

/**
 * Reads the TufchainLog contract through k-of-n RPC endpoints. An answer counts only when
 * `quorum` endpoints give exactly the same one (entry, block number and block hash).
 */
export class ChainReader {
  readonly #endpoints: RpcEndpoint[];
  readonly #quorum: number;
  readonly #address: string;
  readonly #confirmations: number;
  readonly #fromBlock: number;
  readonly #maxBlockRange: number;
  readonly #headSpread: number;
  readonly chainId: number | undefined;

  constructor(opts: ChainReaderOptions) {
    if (opts.rpcUrls.length === 0) throw new TransparencyError('INVALID_CONFIG', 'no RPC URLs');
    if (!Number.isInteger(opts.quorum) || opts.quorum < 1 || opts.quorum > opts.rpcUrls.length) {
      throw new TransparencyError(
        'INVALID_CONFIG',
        'quorum must be between 1 and the number of RPC URLs',
      );
    }
    if (!Number.isInteger(opts.confirmations) || opts.confirmations < 1) {
      throw new TransparencyError('INVALID_CONFIG', 'confirmations must be >= 1');
    }
    const headSpread = opts.headSpread ?? 2;
    if (!Number.isInteger(headSpread) || headSpread < 0) {
      throw new TransparencyError('INVALID_CONFIG', 'headSpread must be a non-negative integer');
    }
    this.#endpoints = opts.rpcUrls.map(
      (url) =>
        new RpcEndpoint(url, {
          chainId: opts.chainId,
          timeoutMs: opts.timeoutMs ?? 10_000,
          maxResponseBytes: opts.maxResponseBytes ?? DEFAULT_MAX_RPC_RESPONSE_BYTES,
        }),
    );
    this.#headSpread = headSpread;
    this.#quorum = opts.quorum;
    this.#address = getAddress(opts.contractAddress).toLowerCase();
    this.#confirmations = opts.confirmations;
    this.#fromBlock = opts.fromBlock ?? 0;
    this.#maxBlockRange = opts.maxBlockRange ?? 100_000;
    this.chainId = opts.chainId;
  }

  get confirmations(): number {
    return this.#confirmations;
  }

  get contractAddress(): string {
    return this.#address;
  }

  /**
   * Asks every endpoint and settles as soon as `quorum` of them give the same answer (by `keyOf`),
   * or as soon as that has become impossible; the endpoints still busy are aborted.
   */
  #agreed<T>(
    what: string,
    ask: (ep: RpcEndpoint, signal: AbortSignal) => Promise<T>,
    keyOf: (v: T) => string,
    ready?: (group: readonly T[]) => boolean,
  ): Promise<T[]> {
    return askQuorum(this.#endpoints, ask, (outcomes, pending) =>
      decideAgreement(outcomes, pending, this.#quorum, keyOf, what, ready),
    );
  }

  /**
   * The head for an entry agreed by `group`: while other endpoints are still busy, the group
   * counts only once `quorum` of its heads lie within the head spread (the lowest of them is the
   * head); once every endpoint answered, the largest head `quorum` of the group reach.
   */
  #groupHead(group: readonly { head: number }[]): number {
    const heads = group.map((a) => a.head);
    return (
      headWindowFloor(heads, this.#quorum, this.#headSpread) ?? quorumFloor(heads, this.#quorum)
    );
  }

  #headsClose = (group: readonly { head: number }[]): boolean =>
    headWindowFloor(
      group.map((a) => a.head),
      this.#quorum,
      this.#headSpread,
    ) !== undefined;

  /** The endpoint's head and its first log matching `topics`, which must sit in a canonical block. */
  async #firstCanonicalLog(
    ep: RpcEndpoint,
    topics: (string | null)[],
    signal: AbortSignal,
  ): Promise<{ head: number; log: RpcLog | undefined }> {
    const head = await ep.blockNumber(signal);
    const logs = await ep.logs(
      { address: this.#address, topics, fromBlock: this.#fromBlock, toBlock: head },
      signal,
    );
    const log = logs.find((l) => !l.removed);
    if (!log) return { head, log };
    const block = await ep.block(log.blockNumber, signal);
    if (!block || block.hash !== log.blockHash) {
      throw new TransparencyError(
        'RPC_UNAVAILABLE',
        `${ep.url} returned a log from a non-canonical block`,
      );
    }
    return { head, log };
  }

  /** Every non-removed log matching `topics` up to `toBlock`, in chain order. */
  async #logsUpTo(
    ep: RpcEndpoint,
    topics: (string | null)[],
    fromBlock: number,
    toBlock: number,
    signal: AbortSignal,
  ): Promise<RpcLog[]> {
    const all: RpcLog[] = [];
    for (let from = fromBlock; from <= toBlock; from += this.#maxBlockRange) {
      const to = Math.min(toBlock, from + this.#maxBlockRange - 1);
      all.push(
        ...(await ep.logs(
          { address: this.#address, topics, fromBlock: from, toBlock: to },
          signal,
        )),
      );
    }
    return all
      .filter((l) => !l.removed)
      .sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
  }

  /** The confirmed on-chain entry for exactly this targets metadata hash. */
  async findRelease(metadataHash: string): Promise<LoggedRelease> {
    const hash = normalizeHash32(metadataHash, 'metadataHash');
    const topics = releaseLoggedTopics(hash);
    const group = await this.#agreed(
      'findRelease',
      async (ep, signal) => {
        const { head, log } = await this.#firstCanonicalLog(ep, topics, signal);
        if (!log) return { head, found: null };
        const decoded = decodeReleaseLogged(log);
        if (decoded.metadataHash !== hash) {
          throw new TransparencyError(
            'RPC_UNAVAILABLE',
            `${ep.url} returned a log for another metadata hash`,
          );
        }
        return { head, found: toFound(log, decoded) };
      },
      (a) => JSON.stringify(a.found),
      this.#headsClose,
    );
    const found = group[0]!.found;
    if (!found) {
      throw new TransparencyError('METADATA_NOT_LOGGED', `metadata ${hash} is not logged on chain`);
    }
    const confirmations = this.#groupHead(group) - found.blockNumber + 1;
    if (confirmations < this.#confirmations) {
      throw new TransparencyError(
        'NOT_CONFIRMED',
        `metadata ${hash} has ${confirmations} of ${this.#confirmations} confirmations`,
      );
    }
    return { ...found, confirmations };
  }

  /** Every confirmed release, in chain order, replayed from eth_getLogs alone. */
  async releases(): Promise<LoggedRelease[]> {
    const answer = await this.releasesAfter();
    return answer.releases;
  }

  /**
   * The confirmed releases logged after block `after.blockNumber` (all of them without `after`),
   * in chain order, and the confirmed block the answer reaches, so that a caller can keep what it
   * has read and ask only for what is new. When the quorum's chain no longer holds
   * `after.blockHash` at that height (a reorganization deeper than the confirmations, or a reset
   * development chain), `reorganized` is true and `releases` is every confirmed release.
   */
  async releasesAfter(after?: { blockNumber: number; blockHash: string }): Promise<{
    releases: LoggedRelease[];
    confirmed: { blockNumber: number; blockHash: string };
    reorganized: boolean;
  }> {
    const { head, confirmedHead } = await this.#confirmedHead();
    const topics = releaseLoggedTopics();
    const group = await this.#agreed(
      'releases',
      async (ep, signal) => {
        const confirmed = await ep.block(confirmedHead, signal);
        if (!confirmed)
          throw new TransparencyError('RPC_UNAVAILABLE', `${ep.url} has no block ${confirmedHead}`);
        let start = this.#fromBlock;
        let reorganized = false;
        if (after && after.blockNumber <= confirmedHead) {
          const held = await ep.block(after.blockNumber, signal);
          reorganized = held?.hash !== after.blockHash;
          if (!reorganized) start = Math.max(start, after.blockNumber + 1);
        } else if (after) {
          reorganized = true; // the caller read past what is confirmed now
        }
        const logs = await this.#logsUpTo(ep, topics, start, confirmedHead, signal);
        return {
          releases: logs.map((l) => toFound(l, decodeReleaseLogged(l))),
          confirmed: { blockNumber: confirmedHead, blockHash: confirmed.hash },
          reorganized,
        };
      },
      (a) => JSON.stringify(a),
    );
    const answer = group[0]!;
    return {
      ...answer,
      releases: answer.releases.map((r) => ({ ...r, confirmations: head - r.blockNumber + 1 })),
    };
  }

  /**
   * Every confirmed release, recall, minimum-version and anchor event logged after block
   * `after.blockNumber` (from the first block without `after`), in chain order, and the confirmed
   * block the answer reaches. When the quorum's chain no longer holds `after.blockHash` at that
   * height, `reorganized` is true and no events are returned: the caller rewinds to an older
   * block it kept and asks again.
   */
  async eventsAfter(after?: { blockNumber: number; blockHash: string }): Promise<{
    events: ContractEvent[];
    confirmed: { blockNumber: number; blockHash: string };
    reorganized: boolean;
  }> {
    const { confirmedHead } = await this.#confirmedHead();
    const group = await this.#agreed(
      'eventsAfter',
      async (ep, signal) => {
        const confirmed = await ep.block(confirmedHead, signal);
        if (!confirmed)
          throw new TransparencyError('RPC_UNAVAILABLE', `${ep.url} has no block ${confirmedHead}`);
        const reached = { blockNumber: confirmedHead, blockHash: confirmed.hash };
        let start = this.#fromBlock;
        if (after) {
          const held =
            after.blockNumber <= confirmedHead ? await ep.block(after.blockNumber, signal) : null;
          if (held?.hash !== after.blockHash) {
            return { events: [], confirmed: reached, reorganized: true };
          }
          start = Math.max(start, after.blockNumber + 1);
        }
        const logs = await this.#logsUpTo(ep, [], start, confirmedHead, signal);
        return { events: logs.flatMap(toContractEvent), confirmed: reached, reorganized: false };
      },
      (a) => JSON.stringify(a),
    );
    return group[0]!;
  }

  /** The confirmed CheckpointAnchored event for exactly this tree size. Throws NOT_ANCHORED. */
  async findCheckpointAnchor(size: number): Promise<AnchoredCheckpoint> {
    const topics = checkpointAnchoredTopics(size);
    const group = await this.#agreed(
      'findCheckpointAnchor',
      async (ep, signal) => {
        const { head, log } = await this.#firstCanonicalLog(ep, topics, signal);
        if (!log) return { head, found: null };
        const decoded = decodeCheckpointAnchored(log);
        if (decoded.size !== size) {
          throw new TransparencyError(
            'RPC_UNAVAILABLE',
            `${ep.url} returned an anchor of another size`,
          );
        }
        return {
          head,
          found: {
            ...decoded,
            txHash: log.transactionHash,
            blockNumber: log.blockNumber,
            blockHash: log.blockHash,
          },
        };
      },
      (a) => JSON.stringify(a.found),
      this.#headsClose,
    );
    const found = group[0]!.found;
    if (!found)
      throw new TransparencyError(
        'NOT_ANCHORED',
        `no checkpoint of size ${size} is anchored on chain`,
      );
    const confirmations = this.#groupHead(group) - found.blockNumber + 1;
    if (confirmations < this.#confirmations) {
      throw new TransparencyError(
        'NOT_CONFIRMED',
        `anchor of size ${size} has ${confirmations} confirmations`,
      );
    }
    return { ...found, confirmations };
  }

  /** Every confirmed recall, in chain order. */
  async recalls(): Promise<RecallEvent[]> {
    const events = await this.#replay('Recalled');
    return events.map((e) => ({
      ...e.receipt,
      subject: String(e.args.subject).toLowerCase(),
      reason: String(e.args.reason),
    }));
  }

  /** Every confirmed minimum-version change, in chain order. */
  async minimumVersions(): Promise<MinimumVersionEvent[]> {
    const events = await this.#replay('MinimumVersionSet');
    return events.map((e) => ({
      ...e.receipt,
      hardwareIdHash: String(e.args.hardwareId).toLowerCase(),
      version: Number(e.args.version as bigint),
    }));
  }

  /** Replays one event type up to the confirmed head, agreed by the quorum. */
  async #replay(name: string): Promise<{ args: Record<string, unknown>; receipt: ChainReceipt }[]> {
    const event = tufchainLogInterface.getEvent(name);
    if (!event)
      throw new TransparencyError('UNSUPPORTED_BY_CONTRACT', `the contract has no ${name} event`);
    const { confirmedHead } = await this.#confirmedHead();
    if (confirmedHead < this.#fromBlock) return [];
    const group = await this.#agreed(
      name,
      async (ep, signal) =>
        (await this.#logsUpTo(ep, [event.topicHash], this.#fromBlock, confirmedHead, signal)).map(
          (l) => ({
            topics: l.topics,
            data: l.data,
            txHash: l.transactionHash,
            blockNumber: l.blockNumber,
            blockHash: l.blockHash,
          }),
        ),
      (a) => JSON.stringify(a),
    );
    return group[0]!.map((l) => {
      let parsed;
      try {
        parsed = tufchainLogInterface.parseLog({ topics: l.topics, data: l.data });
      } catch (err) {
        throw new TransparencyError('INVALID_ENTRY', `undecodable ${name} log`, { cause: err });
      }
      if (!parsed) throw new TransparencyError('INVALID_ENTRY', `undecodable ${name} log`);
      return {
        args: parsed.args.toObject(),
        receipt: { txHash: l.txHash, blockNumber: l.blockNumber, blockHash: l.blockHash },
      };
    });
  }

  /** Every confirmed checkpoint anchor, in chain order. */
  async anchors(): Promise<AnchoredCheckpoint[]> {
    const { head, confirmedHead } = await this.#confirmedHead();
    if (confirmedHead < this.#fromBlock) return [];
    const topics = checkpointAnchoredTopics();
    const group = await this.#agreed(
      'anchors',
      async (ep, signal) =>
        (await this.#logsUpTo(ep, topics, this.#fromBlock, confirmedHead, signal)).map((l) => ({
          ...decodeCheckpointAnchored(l),
          txHash: l.transactionHash,
          blockNumber: l.blockNumber,
          blockHash: l.blockHash,
        })),
      (a) => JSON.stringify(a),
    );
    return group[0]!.map((a) => ({ ...a, confirmations: head - a.blockNumber + 1 }));
  }

  /**
   * The latest block that is `confirmations` deep, agreed by the quorum. Its timestamp is a
   * trusted lower bound on the current time.
   */
  async trustedTime(): Promise<ConfirmedBlock> {
    const { confirmedHead } = await this.#confirmedHead();
    const group = await this.#agreed(
      'trustedTime',
      (ep, signal) => ep.block(confirmedHead, signal),
      (b) => (b ? `${b.hash}:${b.timestamp}` : 'none'),
    );
    const block = group[0];
    if (!block)
      throw new TransparencyError('QUORUM_DISAGREES', `no endpoint has block ${confirmedHead}`);
    return { blockNumber: block.number, blockHash: block.hash, timestamp: block.timestamp };
  }

  /** Whether a firmware digest or a targets metadata hash has been recalled on chain. */
  async isRecalled(digestOrMetadataHash: string): Promise<boolean> {
    const hash = normalizeHash32(digestOrMetadataHash, 'digest');
    const [out] = await this.callView('isRecalled', [hash]);
    return Boolean(out);
  }

  /** The on-chain anti-rollback floor (minimum releaseCounter) for a hardware ID; 0 when unset. */
  async minimumVersion(hardwareId: string): Promise<number> {
    const [out] = await this.callView('minimumVersion', [hardwareIdHash(hardwareId)]);
    return Number(out);
  }

  /** Calls a view function of the contract at the confirmed head, agreed by the quorum. */
  async callView(name: string, args: unknown[]): Promise<unknown[]> {
    const fragment = tufchainLogInterface.getFunction(name);
    if (!fragment) {
      throw new TransparencyError(
        'UNSUPPORTED_BY_CONTRACT',
        `the contract has no ${name} function`,
      );
    }
    const data = tufchainLogInterface.encodeFunctionData(fragment, args);
    const { confirmedHead } = await this.#confirmedHead();
    const group = await this.#agreed(
      name,
      (ep, signal) => ep.call(this.#address, data, confirmedHead, signal),
      (r) => r,
    );
    try {
      return tufchainLogInterface.decodeFunctionResult(fragment, group[0]!).toArray() as unknown[];
    } catch (err) {
      throw new TransparencyError('RPC_UNAVAILABLE', `undecodable ${name} result`, { cause: err });
    }
  }

  /** The head a quorum has reached, and the latest block that is `confirmations` deep from it. */
  async #confirmedHead(): Promise<{ head: number; confirmedHead: number }> {
    const head = await askQuorum(
      this.#endpoints,
      (ep, signal) => ep.blockNumber(signal),
      (outcomes, pending) =>
        decideHead(outcomes, pending, this.#quorum, this.#headSpread, 'blockNumber'),
    );
    const confirmedHead = head - this.#confirmations + 1;
    if (confirmedHead < 0) {
      throw new TransparencyError(
        'NOT_CONFIRMED',
        'the chain is shorter than the confirmation depth',
      );
    }
    return { head, confirmedHead };
  }

  /** Releases the underlying endpoints. */
  destroy(): void {
    for (const ep of this.#endpoints) ep.destroy();
  }
}
