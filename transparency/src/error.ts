export type TransparencyErrorCode =
  // chain reader / writer
  | 'METADATA_NOT_LOGGED'
  | 'NOT_CONFIRMED'
  | 'QUORUM_DISAGREES'
  | 'RPC_UNAVAILABLE'
  | 'CHAIN_ID_MISMATCH'
  | 'VERSION_NOT_INCREASING'
  | 'NOT_PUBLISHER'
  | 'NOT_LOG_OPERATOR'
  | 'NOT_ADMIN'
  | 'TX_REVERTED'
  | 'ALREADY_RECALLED'
  | 'TX_TIMEOUT'
  | 'FEE_TOO_HIGH'
  | 'INVALID_ENTRY'
  | 'INVALID_HASH'
  | 'INVALID_CONFIG'
  | 'UNSUPPORTED_BY_CONTRACT'
  // chain accounts (publisher, log operator) and their signers
  | 'CONTRACT_NOT_FOUND'
  | 'SIGNER_KEY_MISMATCH'
  | 'INSUFFICIENT_FUNDS'
  | 'TX_REJECTED'
  | 'MINIMUM_VERSION_NOT_INCREASING'
  // offline update bundles
  | 'BUNDLE_INVALID'
  | 'NO_TARGET_FOR_HARDWARE'
  | 'ATTESTATION_MISSING'
  | 'DOWNLOAD_HTTP'
  | 'ENDLESS_DATA'
  | 'LENGTH_MISMATCH'
  | 'NO_DELTA_FOR_BASE'
  // wire formats
  | 'MALFORMED_ATTESTATION'
  | 'MALFORMED_PREDICATE'
  | 'INSTALL_PATH_MALFORMED'
  // binary deltas (delta/format.ts)
  | 'DELTA_MALFORMED'
  | 'DELTA_TRUNCATED'
  | 'DELTA_TOO_LARGE'
  // the Uptane profile (UPTANE.md)
  | 'MALFORMED_ENVELOPE'
  | 'ENVELOPE_UNSIGNED'
  | 'ENVELOPE_SIGNATURE_INVALID'
  | 'DIRECTOR_METADATA_INVALID'
  | 'MALFORMED_MANIFEST'
  | 'METADATA_MALFORMED'
  // merkle
  | 'INDEX_OUT_OF_RANGE'
  | 'TREE_SIZE_INVALID'
  | 'INCLUSION_PROOF_INVALID'
  | 'CONSISTENCY_PROOF_INVALID'
  // log storage
  | 'LOG_CORRUPT'
  | 'ENTRY_NOT_FOUND'
  | 'INVALID_RANGE'
  | 'MALFORMED_ENTRY'
  | 'PERSONAL_DATA_REJECTED'
  // signed notes / checkpoints
  | 'MALFORMED_NOTE'
  | 'MALFORMED_CHECKPOINT'
  | 'MALFORMED_KEY'
  | 'NOTE_UNSIGNED_BY_TRUSTED_KEY'
  | 'NOTE_SIGNATURE_INVALID'
  | 'ORIGIN_MISMATCH'
  // anchoring and proof bundles
  | 'ANCHOR_REJECTED'
  | 'CHECKPOINT_INCONSISTENT'
  | 'NOT_ANCHORED'
  | 'MALFORMED_PROOF_BUNDLE'
  | 'PROOF_BUNDLE_MISMATCH'
  // auditor
  | 'AUDIT_SOURCE_UNAVAILABLE'
  | 'MALFORMED_AUDIT_PACK'
  | 'AUDIT_PACK_INVALID';

export class TransparencyError extends Error {
  override readonly name = 'TransparencyError';
  readonly code: TransparencyErrorCode;
  constructor(code: TransparencyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
