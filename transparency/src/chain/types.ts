export interface ReleaseFirmware {
  /** `0x` + sha256 hex of the image bytes. */
  digest: string;
  /** Plain hardware ID string; it is hashed (keccak256 of UTF-8) before it goes on chain. */
  hardwareId: string;
  /** The release's monotonic releaseCounter. */
  version: number;
}

export interface ReleaseEntry {
  /** The logged metadata's `signed.version`: the snapshot version (top-level targets in flat histories). */
  metadataVersion: number;
  /** `0x` + sha256 hex of the exact bytes of `{version}.snapshot.json` (`.targets.json` in flat histories). */
  metadataHash: string;
  firmware: ReleaseFirmware[];
}

export interface ChainReceipt {
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

export interface LoggedRelease extends ChainReceipt {
  metadataVersion: number;
  metadataHash: string;
  publisher: string;
  /** Blocks including the entry's block, as agreed by the quorum when it was read. */
  confirmations: number;
  firmware: { digest: string; hardwareIdHash: string; version: number }[];
}

export interface ConfirmedBlock {
  blockNumber: number;
  blockHash: string;
  /** Unix seconds. */
  timestamp: number;
}

/** A CheckpointAnchored event of the contract, as agreed by the reader's quorum. */
export interface AnchoredCheckpoint extends ChainReceipt {
  size: number;
  /** `0x` hex of the RFC 9162 root hash. */
  rootHash: string;
  operator: string;
  previousSize: number;
  confirmations: number;
}

/** A confirmed Recalled event: a firmware digest or metadata hash recalled at a block. */
export interface RecallEvent extends ChainReceipt {
  subject: string;
  reason: string;
}

/** A confirmed MinimumVersionSet event: the anti-rollback floor of a hardware ID from a block on. */
export interface MinimumVersionEvent extends ChainReceipt {
  hardwareIdHash: string;
  version: number;
}

/** Where a log sits in the chain: receipt plus its index in the block. */
export interface LogPosition extends ChainReceipt {
  logIndex: number;
}

/** One confirmed event of the contract, as a monitor follows them (see ChainReader.eventsAfter). */
export type ContractEvent =
  | ({ kind: 'release' } & LogPosition & Omit<LoggedRelease, 'confirmations' | keyof ChainReceipt>)
  | ({ kind: 'recall'; subject: string; reason: string } & LogPosition)
  | ({ kind: 'minimumVersion'; hardwareIdHash: string; version: number } & LogPosition)
  | ({
      kind: 'anchor';
      size: number;
      rootHash: string;
      operator: string;
      previousSize: number;
    } & LogPosition);
