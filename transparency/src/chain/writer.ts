import {
  Contract,
  type ContractTransactionResponse,
  type Signer,
  type TransactionResponse,
} from 'ethers';
import { hardwareIdHash } from '@tufchain/contracts';
import { TransparencyError } from '../error.js';
import { normalizeHash32 } from '../util/hex.js';
import { decodeReleaseLogged, releaseLoggedTopics, tufchainLogInterface } from './abi.js';
import { checkMinimumVersion } from './calls.js';
import { mapChainError } from './errors.js';
import type { ChainReceipt, ReleaseEntry } from './types.js';
import { waitForConfirmations } from './wait.js';

export interface ReleaseLogWriterOptions {
  signer: Signer;
  contractAddress: string;
  /** Blocks the entry's block must be deep (1 = mined) before logRelease resolves. */
  confirmations: number;
  pollIntervalMs?: number;
  timeoutMs?: number;
}

function validateEntry(entry: ReleaseEntry) {
  if (!Number.isSafeInteger(entry.metadataVersion) || entry.metadataVersion < 1) {
    throw new TransparencyError('INVALID_ENTRY', 'metadataVersion must be a positive integer');
  }
  const firmware = entry.firmware.map((f) => {
    if (!Number.isSafeInteger(f.version) || f.version < 0) {
      throw new TransparencyError(
        'INVALID_ENTRY',
        'firmware version must be a non-negative integer',
      );
    }
    if (typeof f.hardwareId !== 'string' || f.hardwareId.length === 0) {
      throw new TransparencyError('INVALID_ENTRY', 'hardwareId must be a non-empty string');
    }
    return {
      digest: normalizeHash32(f.digest, 'firmware digest'),
      hardwareId: hardwareIdHash(f.hardwareId),
      version: BigInt(f.version),
    };
  });
  return {
    metadataVersion: BigInt(entry.metadataVersion),
    metadataHash: normalizeHash32(entry.metadataHash, 'metadataHash'),
    firmware,
  };
}

/** A confirmed raise of a hardware ID's on-chain minimum version. */
export interface MinimumVersionReceipt extends ChainReceipt {
  hardwareId: string;
  /** keccak256 of the hardware ID, as the contract keys it. */
  hardwareIdHash: string;
  version: number;
  previousVersion: number;
}

/** Logs releases to the TufchainLog contract (publisher role). */
export class ReleaseLogWriter {
  readonly #signer: Signer;
  readonly #contract: Contract;
  readonly #wait: { confirmations: number; pollIntervalMs: number; timeoutMs: number };

  constructor(opts: ReleaseLogWriterOptions) {
    if (!Number.isInteger(opts.confirmations) || opts.confirmations < 1) {
      throw new TransparencyError('INVALID_CONFIG', 'confirmations must be >= 1');
    }
    if (!opts.signer.provider)
      throw new TransparencyError('INVALID_CONFIG', 'signer has no provider');
    this.#signer = opts.signer;
    this.#contract = new Contract(opts.contractAddress, tufchainLogInterface, opts.signer);
    this.#wait = {
      confirmations: opts.confirmations,
      pollIntervalMs: opts.pollIntervalMs ?? 500,
      timeoutMs: opts.timeoutMs ?? 300_000,
    };
  }

  /**
   * Sends logRelease and resolves once the entry is `confirmations` blocks deep. Idempotent: if
   * exactly this version and hash are already logged (e.g. a retry after an ambiguous failure),
   * it waits for that entry instead of failing with VERSION_NOT_INCREASING.
   */
  /** `hooks.onMined` hears of the transaction once it is in a block, before the confirmations. */
  async logRelease(
    entry: ReleaseEntry,
    hooks: { onMined?: (receipt: ChainReceipt) => void } = {},
  ): Promise<ChainReceipt> {
    const args = validateEntry(entry);
    let tx: ContractTransactionResponse;
    try {
      tx = (await this.#contract.getFunction('logRelease')(
        args.metadataVersion,
        args.metadataHash,
        args.firmware,
        { nonce: await this.#pendingNonce() },
      )) as ContractTransactionResponse;
    } catch (err) {
      const mapped = mapChainError(err, 'logRelease');
      if (mapped.code === 'VERSION_NOT_INCREASING') {
        const existing = await this.#findLogged(args);
        if (existing)
          return waitForConfirmations(this.#signer.provider!, existing, this.#wait, hooks.onMined);
      }
      throw mapped;
    }
    return waitForConfirmations(this.#signer.provider!, tx, this.#wait, hooks.onMined);
  }

  /**
   * Recalls firmware digests on chain (one `recall` per digest, each confirmed before the next);
   * agents then refuse them and auditors see the reason. A digest already recalled counts as done,
   * so a retried revocation is safe. Resolves with the last recall's receipt.
   */
  async recallFirmware(digests: string[], reason: string): Promise<ChainReceipt> {
    if (digests.length === 0) throw new TransparencyError('INVALID_ENTRY', 'no digest to recall');
    const subjects = digests.map((d) => normalizeHash32(d, 'firmware digest'));
    let last: ChainReceipt | undefined;
    for (const subject of subjects) {
      let tx: ContractTransactionResponse;
      try {
        tx = (await this.#contract.getFunction('recall')(subject, reason, {
          nonce: await this.#pendingNonce(),
        })) as ContractTransactionResponse;
      } catch (err) {
        const mapped = mapChainError(err, 'recall');
        if (mapped.code === 'ALREADY_RECALLED') continue;
        throw mapped;
      }
      last = await waitForConfirmations(this.#signer.provider!, tx, this.#wait);
    }
    return last ?? (await this.#findRecall(subjects[0]!));
  }

  async #findRecall(subject: string): Promise<ChainReceipt> {
    const provider = this.#signer.provider!;
    const event = tufchainLogInterface.getEvent('Recalled');
    if (!event)
      throw new TransparencyError('TX_REVERTED', 'the contract ABI has no Recalled event');
    try {
      const [log] = await provider.getLogs({
        address: await this.#contract.getAddress(),
        topics: [event.topicHash, subject],
        fromBlock: 0,
      });
      if (!log) throw new TransparencyError('TX_REVERTED', `no Recalled event for ${subject}`);
      return {
        txHash: log.transactionHash,
        blockNumber: log.blockNumber,
        blockHash: log.blockHash,
      };
    } catch (err) {
      throw mapChainError(err, 'recall');
    }
  }

  /** The minimum version of a hardware ID at the writer's node's latest block (0 when unset). */
  async minimumVersion(hardwareId: string): Promise<number> {
    if (typeof hardwareId !== 'string' || hardwareId.length === 0) {
      throw new TransparencyError('INVALID_ENTRY', 'hardwareId must be a non-empty string');
    }
    try {
      return Number(
        (await this.#contract.getFunction('minimumVersion')(hardwareIdHash(hardwareId))) as bigint,
      );
    } catch (err) {
      throw mapChainError(err, 'minimumVersion');
    }
  }

  /**
   * Raises the on-chain minimum version (the anti-rollback floor vehicles enforce) of a hardware
   * ID and resolves once that is `confirmations` deep. The contract lets it only rise: a lower
   * version throws MINIMUM_VERSION_NOT_INCREASING before anything is sent. The current version
   * again is a retry: it resolves with the confirmed transaction that set it.
   */
  async setMinimumVersion(hardwareId: string, version: number): Promise<MinimumVersionReceipt> {
    const wanted = checkMinimumVersion(version);
    const current = await this.minimumVersion(hardwareId);
    const hwHash = hardwareIdHash(hardwareId).toLowerCase();
    const result = (receipt: ChainReceipt, previousVersion: number): MinimumVersionReceipt => ({
      ...receipt,
      hardwareId,
      hardwareIdHash: hwHash,
      version,
      previousVersion,
    });
    if (version < current) {
      throw new TransparencyError(
        'MINIMUM_VERSION_NOT_INCREASING',
        `the minimum version of ${hardwareId} is ${current}; it can only rise, not go to ${version}`,
      );
    }
    if (version === current) {
      const set = await this.#findMinimumVersionSet(hwHash, version);
      if (!set) {
        throw new TransparencyError(
          'MINIMUM_VERSION_NOT_INCREASING',
          `the minimum version of ${hardwareId} is already ${current}`,
        );
      }
      const receipt = await waitForConfirmations(this.#signer.provider!, set.tx, this.#wait);
      return result(receipt, set.previousVersion);
    }
    let tx: ContractTransactionResponse;
    try {
      tx = (await this.#contract.getFunction('setMinimumVersion')(hwHash, wanted, {
        nonce: await this.#pendingNonce(),
      })) as ContractTransactionResponse;
    } catch (err) {
      throw mapChainError(err, 'setMinimumVersion');
    }
    return result(await waitForConfirmations(this.#signer.provider!, tx, this.#wait), current);
  }

  async #findMinimumVersionSet(
    hwHash: string,
    version: number,
  ): Promise<{ tx: TransactionResponse; previousVersion: number } | undefined> {
    const provider = this.#signer.provider!;
    const event = tufchainLogInterface.getEvent('MinimumVersionSet');
    if (!event) throw new TransparencyError('UNSUPPORTED_BY_CONTRACT', 'no MinimumVersionSet');
    try {
      const logs = await provider.getLogs({
        address: await this.#contract.getAddress(),
        topics: [event.topicHash, hwHash],
        fromBlock: 0,
      });
      for (const log of logs.reverse()) {
        const parsed = tufchainLogInterface.parseLog(log);
        if (parsed && Number(parsed.args.getValue('version') as bigint) === version) {
          const tx = await provider.getTransaction(log.transactionHash);
          if (!tx) return undefined;
          return {
            tx,
            previousVersion: Number(parsed.args.getValue('previousVersion') as bigint),
          };
        }
      }
      return undefined;
    } catch (err) {
      throw mapChainError(err, 'setMinimumVersion');
    }
  }

  /**
   * ethers caches provider reads for 250 ms by default, so two publishes in quick succession
   * would both get the same nonce from a cached eth_getTransactionCount; ask the node directly.
   */
  async #pendingNonce(): Promise<number> {
    const provider = this.#signer.provider;
    const from = await this.#signer.getAddress();
    try {
      if (provider && 'send' in provider && typeof provider.send === 'function') {
        const hex = (await (provider.send as (m: string, p: unknown[]) => Promise<unknown>)(
          'eth_getTransactionCount',
          [from, 'pending'],
        )) as string;
        return Number(BigInt(hex));
      }
      return await this.#signer.getNonce('pending');
    } catch (err) {
      throw mapChainError(err, 'logRelease');
    }
  }

  async #findLogged(args: ReturnType<typeof validateEntry>): Promise<TransactionResponse | null> {
    const same = (logged: ReturnType<typeof decodeReleaseLogged>) =>
      BigInt(logged.metadataVersion) === args.metadataVersion &&
      logged.firmware.length === args.firmware.length &&
      logged.firmware.every(
        (f, i) =>
          f.digest === args.firmware[i]!.digest &&
          f.hardwareIdHash === args.firmware[i]!.hardwareId.toLowerCase() &&
          BigInt(f.version) === args.firmware[i]!.version,
      );
    const provider = this.#signer.provider!;
    try {
      const logs = await provider.getLogs({
        address: await this.#contract.getAddress(),
        topics: releaseLoggedTopics(args.metadataHash),
        fromBlock: 0,
      });
      for (const log of logs) {
        if (same(decodeReleaseLogged(log))) {
          return await provider.getTransaction(log.transactionHash);
        }
      }
      return null;
    } catch (err) {
      throw mapChainError(err, 'logRelease');
    }
  }
}
