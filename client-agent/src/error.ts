export type AgentErrorCode =
  // TUF metadata workflow
  | 'TUF_REFRESH'
  | 'METADATA_ROLLBACK'
  | 'METADATA_EXPIRED'
  | 'METADATA_UNSIGNED'
  | 'TRUSTED_ROOT_INVALID'
  | 'NO_TARGET_FOR_HARDWARE'
  | 'TARGET_NOT_FOUND'
  | 'TARGET_CUSTOM_INVALID'
  // transparency log
  | 'METADATA_NOT_LOGGED'
  | 'NOT_CONFIRMED'
  | 'QUORUM_DISAGREES'
  | 'RPC_UNAVAILABLE'
  | 'METADATA_VERSION_MISMATCH'
  | 'DIGEST_NOT_LOGGED'
  | 'RECALLED'
  | 'RELEASE_WITHHELD'
  | 'BELOW_MINIMUM_VERSION'
  | 'CHAIN_CHECK_FAILED'
  // firmware attestation
  | 'ATTESTATION_MISSING'
  | 'ATTESTATION_INVALID'
  | 'SUBJECT_DIGEST_MISMATCH'
  // policy
  | 'HARDWARE_ID_MISMATCH'
  | 'HARDWARE_ID_NOT_DELEGATED'
  | 'DOWNGRADE'
  | 'IMAGE_BLOCKED'
  // download and install
  | 'DOWNLOAD_HTTP'
  | 'DOWNLOAD_FAILED'
  | 'DOWNLOAD_TIMEOUT'
  | 'DOWNLOAD_TOO_SLOW'
  | 'ENDLESS_DATA'
  | 'LENGTH_MISMATCH'
  | 'TARGET_MISMATCH'
  | 'READBACK_MISMATCH'
  // delta updates (install/delta-source.ts): each falls back to the full image
  | 'DELTA_MALFORMED'
  | 'DELTA_TRUNCATED'
  | 'DELTA_BASE_MISMATCH'
  | 'DELTA_TARGET_MISMATCH'
  | 'DELTA_UNAVAILABLE'
  | 'SLOT_STATE_INVALID'
  | 'SLOT_BUSY'
  | 'HEALTH_CHECK_FAILED'
  // reporting and operation
  | 'REPORT_REJECTED'
  | 'REPORT_SEND_FAILED'
  | 'STATE_CORRUPT'
  | 'BUNDLE_INVALID'
  | 'BUNDLE_RELEASE_MISMATCH'
  | 'BUNDLE_BASE_MISMATCH'
  | 'CHAIN_SNAPSHOT_MISSING'
  | 'CHAIN_SNAPSHOT_STALE'
  | 'AGENT_BUSY'
  | 'AGENT_STALLED'
  | 'CONFIG_INVALID'
  // vehicle enrollment
  | 'ENROLLMENT_REJECTED'
  | 'ENROLLMENT_FAILED'
  | 'VEHICLE_REVOKED'
  | 'VEHICLE_CERTIFICATE_INVALID'
  // Uptane: Director, primary and secondaries (transparency/UPTANE.md)
  | 'DIRECTOR_METADATA_INVALID'
  | 'DIRECTOR_VEHICLE_MISMATCH'
  | 'DIRECTOR_NOT_LOGGED'
  | 'DIRECTOR_IMAGE_UNKNOWN'
  | 'DIRECTOR_IMAGE_MISMATCH'
  | 'NO_ASSIGNMENT_FOR_ECU'
  | 'ECU_UNKNOWN'
  | 'ECU_UNREACHABLE'
  | 'ECU_PROTOCOL_ERROR'
  | 'ECU_NOT_PREPARED'
  | 'ECU_REPORT_SIGNATURE_INVALID'
  | 'ECU_REPORT_REPLAYED'
  | 'ECU_RESULT_UNSIGNED'
  | 'ECU_RESULT_SIGNATURE_INVALID'
  | 'ATOMIC_SET_ROLLED_BACK'
  | 'ATOMIC_COMMIT_REFUSED'
  | 'MANIFEST_REJECTED'
  | 'ECU_REGISTRATION_REJECTED';

export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isAgentError(err: unknown, code?: AgentErrorCode): err is AgentError {
  return err instanceof AgentError && (code === undefined || err.code === code);
}
