import { Contract, getAddress, keccak256, type Provider, type Signer } from 'ethers';
import {
  checkpointAnchoredTopics,
  decodeCheckpointAnchored,
  tufchainLogInterface,
} from '../chain/abi.js';
import { broadcastRefusal, mapChainError } from '../chain/errors.js';
import { TransparencyError } from '../error.js';
import type { TransparencyLog } from '../log/transparency-log.js';
import { bytesToHex } from '../util/hex.js';
import type { AnchorOutbox, AnchorOutboxStats, AnchorRecord } from './outbox.js';

export interface AnchorConfig {
  /** Anchor once this many entries are waiting. */
  batchSize: number;
  /** Anchor whatever is waiting at least this often. */
  intervalMs: number;
  /** Depth (the anchor's own block counts as one) before an anchor counts as done. */
  confirmations: number;
  /** How often to poll for receipts and retry after errors. */
  pollIntervalMs: number;
  /** Fee caps; the service waits rather than pay more. */
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  /** Anchoring counts as stalled when a checkpoint has waited this long without progress. */
  stallAfterMs: number;
  /** ... or after this many failures in a row. */
  stallAfterFailures: number;
}

export const defaultAnchorConfig: AnchorConfig = {
  batchSize: 1000,
  intervalMs: 60_000,
  confirmations: 2,
  pollIntervalMs: 1_000,
  // Ten batch intervals: far longer than a batch plus its confirmations on any chain in use.
  stallAfterMs: 600_000,
  stallAfterFailures: 10,
};

/** How the anchoring is doing: what metrics export and what a readiness check judges. */
export interface AnchorHealth extends AnchorOutboxStats {
  /** Age of the oldest open record's last state change (0 when nothing waits). */
  oldestOpenAgeMs: number;
  /** Failures since the last step that made progress. */
  consecutiveFailures: number;
  /** Failures since the service was created. */
  failures: number;
  /** Anchoring transactions signed since the service was created. */
  transactionsSigned: number;
  lastError: { code: string; message: string; at: number } | null;
  stalled: boolean;
  /** Why it counts as stalled (no secrets: codes, sizes, ages). */
  stallReason: string | null;
}

export interface AnchorServiceOptions {
  log: TransparencyLog;
  /** The durable outbox (normally in the log's own database). */
  outbox: AnchorOutbox;
  /** The log operator's signer; it must be able to sign raw transactions (e.g. an ethers Wallet). */
  signer: Signer;
  contractAddress: string;
  config?: Partial<AnchorConfig>;
  /** First block to search for anchor events (the contract's deployment block). */
  fromBlock?: number;
  /** Called for each error the service recovers from by retrying. */
  onError?: (err: TransparencyError) => void;
  /** Called once when anchoring becomes stalled (see AnchorConfig.stallAfter*). */
  onStall?: (health: AnchorHealth) => void;
  /** Called once when a stalled anchoring makes progress again. */
  onRecover?: (health: AnchorHealth) => void;
}

type Step = 'progress' | 'waiting' | 'idle';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Anchors the log's checkpoints on chain with `anchor(size, root, consistencyProof)`.
 * Every checkpoint to anchor is first written to a durable outbox; a signed transaction is
 * recorded before it is broadcast, so after a crash, an RPC outage or a reorg the same transaction
 * (same nonce, same hash) is re-broadcast and each checkpoint is anchored exactly once.
 */
export class AnchorService {
  readonly config: AnchorConfig;
  readonly outbox: AnchorOutbox;
  readonly #log: TransparencyLog;
  readonly #signer: Signer;
  readonly #provider: Provider;
  readonly #contract: Contract;
  readonly #address: string;
  readonly #onError: (err: TransparencyError) => void;
  readonly #healthListeners: ((health: AnchorHealth) => void)[] = [];
  readonly #fromBlock: number;
  #consecutiveFailures = 0;
  #failures = 0;
  #transactionsSigned = 0;
  #lastError: AnchorHealth['lastError'] = null;
  #stalled = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #loop: Promise<void> | undefined;
  /** Set when a checkpoint was queued while the loop ran: it looks again before it ends. */
  #wake = false;

  constructor(opts: AnchorServiceOptions) {
    this.config = { ...defaultAnchorConfig, ...opts.config };
    if (!opts.signer.provider)
      throw new TransparencyError('INVALID_CONFIG', 'signer has no provider');
    this.outbox = opts.outbox;
    this.#log = opts.log;
    this.#signer = opts.signer;
    this.#provider = opts.signer.provider;
    this.#address = getAddress(opts.contractAddress);
    this.#contract = new Contract(this.#address, tufchainLogInterface, this.#provider);
    this.#onError = opts.onError ?? (() => undefined);
    const { onStall, onRecover } = opts;
    if (onStall || onRecover) {
      this.onHealthChange((h) => (h.stalled ? onStall?.(h) : onRecover?.(h)));
    }
    this.#fromBlock = opts.fromBlock ?? 0;
  }

  /** What is waiting, how long, and whether anchoring counts as stalled. */
  async health(now = Date.now()): Promise<AnchorHealth> {
    const stats = await this.outbox.stats();
    const oldestOpenAgeMs =
      stats.oldestOpenSince === null ? 0 : Math.max(0, now - stats.oldestOpenSince);
    let stallReason: string | null = null;
    const last = this.#lastError ? `; last error ${this.#lastError.code}` : '';
    if (stats.oldestOpenSince !== null && oldestOpenAgeMs > this.config.stallAfterMs) {
      stallReason =
        `${stats.pending + stats.sent} checkpoint(s) waiting, the oldest for ` +
        `${Math.round(oldestOpenAgeMs / 1000)} s (${stats.sent > 0 ? 'sent, not confirmed' : 'never sent'})${last}`;
    } else if (this.#consecutiveFailures >= this.config.stallAfterFailures) {
      stallReason = `${this.#consecutiveFailures} anchoring failures in a row${last}`;
    }
    return {
      ...stats,
      oldestOpenAgeMs,
      consecutiveFailures: this.#consecutiveFailures,
      failures: this.#failures,
      transactionsSigned: this.#transactionsSigned,
      lastError: this.#lastError,
      stalled: stallReason !== null,
      stallReason,
    };
  }

  /**
   * Hears of every change between stalled and not stalled (for a log line or an alert). The
   * state is checked at every interval tick, failure and progress.
   */
  onHealthChange(listener: (health: AnchorHealth) => void): void {
    this.#healthListeners.push(listener);
  }

  /** Reports a stall or a recovery once, when the state changes. */
  #checkHealth(): void {
    void this.health()
      .then((health) => {
        if (health.stalled === this.#stalled) return;
        this.#stalled = health.stalled;
        for (const listener of this.#healthListeners) listener(health);
      })
      // An outbox that cannot be read now is read again at the next tick.
      .catch(() => undefined);
  }

  /** Counts a failure; `report` it through onError unless the caller gets it thrown. */
  #fail(err: TransparencyError, report = true): void {
    this.#failures++;
    this.#consecutiveFailures++;
    this.#lastError = { code: err.code, message: err.message, at: Date.now() };
    if (report) this.#onError(err);
    this.#checkHealth();
  }

  #progressed(): void {
    if (this.#consecutiveFailures === 0 && !this.#stalled) return;
    this.#consecutiveFailures = 0;
    this.#checkHealth();
  }

  /** Starts the interval timer (every `intervalMs`, anchor what is waiting). */
  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => {
      this.#checkHealth();
      this.#kick(true);
    }, this.config.intervalMs);
    this.#timer.unref();
    this.#kick(false);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#loop?.catch(() => undefined);
    await this.#running;
  }

  /** Tells the service entries were appended; a release (`urgent`) anchors at once. */
  notifyAppended(opts: { urgent?: boolean } = {}): void {
    if (this.#stopped) return;
    if (opts.urgent) return this.#kick(true);
    // One look at a time, however many reports arrive: what came during a look gets one more.
    if (this.#looking) {
      this.#lookAgain = true;
      return;
    }
    this.#looking = true;
    void (async () => {
      try {
        do {
          this.#lookAgain = false;
          const [size, queued] = await Promise.all([this.#log.size(), this.outbox.maxSize()]);
          if (size - queued >= this.config.batchSize) {
            await this.enqueue();
            this.#kick(false);
          }
        } while (this.#lookAgain && !this.#stopped);
      } catch (err) {
        // The interval tick anchors what this missed.
        this.#fail(err instanceof TransparencyError ? err : mapChainError(err, 'anchoring'));
      } finally {
        this.#looking = false;
      }
    })();
  }

  /** Queues the log's current size for anchoring (signing its checkpoint). */
  async enqueue(): Promise<AnchorRecord | undefined> {
    const size = await this.#log.size();
    if (size === 0 || size <= (await this.outbox.maxSize())) return undefined;
    const cp = await this.#log.checkpoint(size);
    return this.outbox.enqueue(size, bytesToHex(cp.rootHash));
  }

  /** Anchors the current size and waits until it (or a later anchor) is confirmed. */
  async anchorNow(timeoutMs = 300_000): Promise<AnchorRecord> {
    await this.enqueue();
    const size = await this.#log.size();
    await this.flush(timeoutMs);
    const record = await this.outbox.covering(size - 1);
    if (!record) throw new TransparencyError('NOT_ANCHORED', `size ${size} is not anchored`);
    return record;
  }

  /** Runs until nothing is pending or sent; RPC errors are retried until the timeout. */
  async flush(timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let step: Step;
      try {
        step = await this.#serialized(() => this.step());
      } catch (err) {
        const e = mapChainError(err, 'anchoring');
        if (e.code !== 'RPC_UNAVAILABLE' && e.code !== 'FEE_TOO_HIGH') {
          this.#fail(e, false);
          throw e;
        }
        this.#fail(e);
        step = 'waiting';
      }
      if (step === 'progress') this.#progressed();
      if (step === 'idle') return;
      if (Date.now() > deadline)
        throw new TransparencyError('TX_TIMEOUT', 'anchoring did not finish in time');
      if (step === 'waiting') await sleep(this.config.pollIntervalMs);
    }
  }

  /** The confirmed anchor whose tree includes leaf `index`, if any. */
  anchorCovering(index: number): Promise<AnchorRecord | undefined> {
    return this.outbox.covering(index);
  }

  /** One state transition of the oldest open outbox record. */
  async step(): Promise<Step> {
    const open = await this.outbox.open();
    if (open.length === 0) return 'idle';
    const sent = open.find((r) => r.status === 'sent');
    if (sent) return this.#followSent(sent);
    const target = open[open.length - 1]!;
    for (const r of open.slice(0, -1)) await this.outbox.markCovered(r.size, target.size);
    return this.#submit(target);
  }

  async #followSent(r: AnchorRecord): Promise<Step> {
    const receipt = await this.#provider.getTransactionReceipt(r.txHash!);
    if (receipt) {
      if (receipt.status === 0) {
        await this.outbox.markPending(r.size);
        return 'progress';
      }
      const head = await this.#provider.getBlockNumber();
      if (head - receipt.blockNumber + 1 >= this.config.confirmations) {
        const block = await this.#provider.getBlock(receipt.blockNumber);
        if (block?.hash === receipt.blockHash) {
          await this.outbox.markConfirmed(
            r.size,
            r.txHash!,
            receipt.blockNumber,
            receipt.blockHash,
          );
          return 'progress';
        }
      }
      return 'waiting';
    }
    const latestNonce = await this.#provider.getTransactionCount(
      await this.#signer.getAddress(),
      'latest',
    );
    if (latestNonce > r.nonce!) {
      // The nonce is spent but our transaction is not on chain: it can never be mined any more.
      await this.outbox.markPending(r.size);
      return 'progress';
    }
    await this.#broadcast(r.rawTx!);
    return 'waiting';
  }

  async #submit(target: AnchorRecord): Promise<Step> {
    const [chainSizeRaw, chainRoot] = (await this.#contract.getFunction('latestCheckpoint')()) as [
      bigint,
      string,
      bigint,
    ];
    const chainSize = Number(chainSizeRaw);
    if (
      chainSize > (await this.#log.size()) ||
      (chainSize > 0 && bytesToHex(await this.#log.root(chainSize)) !== chainRoot.toLowerCase())
    ) {
      throw new TransparencyError(
        'CHECKPOINT_INCONSISTENT',
        `the chain anchors size ${chainSize} with a root this log does not have`,
      );
    }
    if (chainSize >= target.size) {
      const anchor = await this.#findAnchorEvent(chainSize);
      if (!anchor) return 'waiting';
      const head = await this.#provider.getBlockNumber();
      if (head - anchor.blockNumber + 1 < this.config.confirmations) return 'waiting';
      await this.outbox.recordConfirmed(
        chainSize,
        anchor.rootHash,
        anchor.txHash,
        anchor.blockNumber,
        anchor.blockHash,
      );
      if (chainSize !== target.size) await this.outbox.markCovered(target.size, chainSize);
      return 'progress';
    }
    const proof = (await this.#log.consistencyProof(chainSize, target.size)).map(bytesToHex);
    const data = tufchainLogInterface.encodeFunctionData('anchor', [
      target.size,
      target.rootHash,
      proof,
    ]);
    const from = await this.#signer.getAddress();
    let gasLimit: bigint;
    try {
      gasLimit = await this.#provider.estimateGas({ from, to: this.#address, data });
    } catch (err) {
      throw mapChainError(err, 'anchor');
    }
    const fees = await this.#fees();
    const nonce = await this.#provider.getTransactionCount(from, 'pending');
    const { chainId } = await this.#provider.getNetwork();
    const rawTx = await this.#signer.signTransaction({
      type: 2,
      chainId,
      to: this.#address,
      data,
      nonce,
      gasLimit: (gasLimit * 12n) / 10n,
      ...fees,
    });
    await this.outbox.markSent(target.size, keccak256(rawTx), rawTx, nonce);
    this.#transactionsSigned++;
    await this.#broadcast(rawTx);
    return 'waiting';
  }

  async #fees(): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }> {
    const [block, feeData] = await Promise.all([
      this.#provider.getBlock('latest'),
      this.#provider.getFeeData(),
    ]);
    const baseFee = block?.baseFeePerGas ?? 0n;
    let priority = feeData.maxPriorityFeePerGas ?? 1_000_000_000n;
    if (
      this.config.maxPriorityFeePerGas !== undefined &&
      priority > this.config.maxPriorityFeePerGas
    ) {
      priority = this.config.maxPriorityFeePerGas;
    }
    let maxFee = baseFee * 2n + priority;
    const cap = this.config.maxFeePerGas;
    if (cap !== undefined) {
      if (baseFee + priority > cap) {
        throw new TransparencyError(
          'FEE_TOO_HIGH',
          `base fee ${baseFee} + tip exceeds the cap ${cap}; waiting`,
        );
      }
      if (maxFee > cap) maxFee = cap;
    }
    return { maxFeePerGas: maxFee, maxPriorityFeePerGas: priority };
  }

  /**
   * Broadcasts a recorded transaction. "Already known" / "nonce too low" mean the node has (or
   * had) it and the receipt decides; any other refusal (an account that cannot pay for gas, a fee
   * below the base fee...) is a failure that must be seen, not swallowed: the transaction stays
   * recorded and is broadcast again at the next poll, when it may be accepted (once funded).
   */
  async #broadcast(rawTx: string): Promise<void> {
    try {
      await this.#provider.broadcastTransaction(rawTx);
    } catch (err) {
      const refusal = broadcastRefusal(err, 'broadcasting the anchor');
      if (refusal) this.#fail(refusal);
    }
  }

  async #findAnchorEvent(size: number) {
    const logs = await this.#provider.getLogs({
      address: this.#address,
      topics: checkpointAnchoredTopics(size),
      fromBlock: this.#fromBlock,
    });
    const log = logs.find((l) => !l.removed);
    if (!log) return undefined;
    return {
      ...decodeCheckpointAnchored(log),
      txHash: log.transactionHash,
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
    };
  }

  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#running ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.#running = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  #looking = false;
  #lookAgain = false;

  #kick(enqueue: boolean): void {
    if (this.#stopped) return;
    void (async () => {
      try {
        if (enqueue) await this.enqueue();
        // One background loop at a time; it picks up whatever was queued meanwhile.
        if (this.#stopped) return;
        if (this.#loop) {
          this.#wake = true;
          return;
        }
        this.#loop = this.#runLoop();
        await this.#loop;
      } catch (err) {
        // The loop stops on a refusal that retrying cannot fix; the next tick tries again.
        this.#fail(err instanceof TransparencyError ? err : mapChainError(err, 'anchoring'));
      }
    })();
  }

  async #runLoop(): Promise<void> {
    try {
      while (!this.#stopped) {
        let step: Step;
        try {
          step = await this.#serialized(() => this.step());
        } catch (err) {
          const e = mapChainError(err, 'anchoring');
          if (e.code !== 'RPC_UNAVAILABLE' && e.code !== 'FEE_TOO_HIGH') throw e;
          this.#fail(e);
          step = 'waiting';
        }
        if (step === 'progress') this.#progressed();
        // Checked in the same turn as the `finally` below: a checkpoint queued while the last
        // step ran has either set #wake by now or finds no loop running and starts one.
        if (step === 'idle') {
          if (!this.#wake) return;
          this.#wake = false;
          continue;
        }
        if (step === 'waiting') await sleep(this.config.pollIntervalMs);
      }
    } finally {
      this.#loop = undefined;
    }
  }
}
