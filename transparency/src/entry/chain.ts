// @tufchain/transparency/chain: the on-chain release log, read (ChainReader: RPC quorum,
// confirmations) and written (ReleaseLogWriter). Loads ethers; no log storage, auditor or CLI.
export { TransparencyError, type TransparencyErrorCode } from '../error.js';
export type {
  AnchoredCheckpoint,
  MinimumVersionEvent,
  RecallEvent,
  ChainReceipt,
  ConfirmedBlock,
  ContractEvent,
  LogPosition,
  LoggedRelease,
  ReleaseEntry,
  ReleaseFirmware,
} from '../chain/types.js';
export {
  ChainReader,
  DEFAULT_MAX_RPC_RESPONSE_BYTES,
  type ChainReaderOptions,
} from '../chain/reader.js';
export {
  ReleaseLogWriter,
  type MinimumVersionReceipt,
  type ReleaseLogWriterOptions,
} from '../chain/writer.js';
export {
  CHAIN_ROLE_IDS,
  prepareGrantRole,
  prepareSetMinimumVersion,
  type ChainRole,
  type PreparedCall,
} from '../chain/calls.js';
