/**
 * The chain seam. `ReleaseLogWriter` from @tufchain/transparency satisfies it;
 * tests on real parts pass that writer, pointed at anvil.
 */
export interface ReleaseEntry {
  metadataVersion: number;
  metadataHash: string;
  firmware: { digest: string; hardwareId: string; version: number }[];
}

export interface ChainReceipt {
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

/**
 * What crash recovery and the log outbox need from the chain (ChainReader satisfies it); throws
 * code METADATA_NOT_LOGGED when absent.
 */
export interface ChainLookup {
  findRelease(metadataHash: string): Promise<ChainReceipt>;
}

export interface ReleaseLogHooks {
  /** The transaction is in a block (not yet confirmed deep enough); may fire again after a reorg. */
  onMined?: (receipt: ChainReceipt) => void;
}

/** A confirmed raise of a hardware ID's on-chain minimum version. */
export interface MinimumVersionReceipt extends ChainReceipt {
  hardwareId: string;
  hardwareIdHash: string;
  version: number;
  previousVersion: number;
}

export interface ReleaseLog {
  /** Resolves only once the entry is confirmed; rejects if the chain refuses it. */
  logRelease(entry: ReleaseEntry, hooks?: ReleaseLogHooks): Promise<ChainReceipt>;
  /** Records a recall of firmware digests, when the chain client supports it. */
  recallFirmware?(digests: string[], reason: string): Promise<ChainReceipt>;
  /** The on-chain minimum version (anti-rollback floor) of a hardware ID; 0 when unset. */
  minimumVersion?(hardwareId: string): Promise<number>;
  /**
   * Raises it and resolves once confirmed; refuses a lower version with the code
   * MINIMUM_VERSION_NOT_INCREASING; the current version again returns the transaction that set it.
   */
  setMinimumVersion?(hardwareId: string, version: number): Promise<MinimumVersionReceipt>;
}
