/** Every code an audit finding can carry (`AuditFinding.code`); README "Audit findings" lists them. */
export type AuditFindingCode =
  // the auditor's inputs
  | 'TRUSTED_ROOT_INVALID'
  | 'ROOT_ROTATION_INVALID'
  | 'AUDIT_SOURCE_UNAVAILABLE'
  | 'FIRMWARE_KEY_MISSING'
  | 'VEHICLE_CA_MISSING'
  // snapshots against the chain
  | 'SNAPSHOT_VERSION_MISSING'
  | 'SNAPSHOT_MALFORMED'
  | 'SNAPSHOT_VERSION_MISMATCH'
  | 'SNAPSHOT_SIGNATURE_INVALID'
  | 'SNAPSHOT_SIGNED_BY_ROTATED_KEYS'
  | 'METADATA_HASH_MISMATCH'
  | 'METADATA_NOT_LOGGED'
  | 'RELEASE_NOT_SERVED'
  // the delegation tree of each snapshot
  | 'ROLE_VERSION_DECREASED'
  | 'SNAPSHOT_META_MISMATCH'
  | 'TARGETS_MALFORMED'
  | 'TARGETS_VERSION_MISMATCH'
  | 'TARGETS_SIGNATURE_INVALID'
  | 'TARGETS_SIGNED_BY_ROTATED_KEYS'
  | 'DELEGATE_SIGNATURE_INVALID'
  | 'ROLE_NOT_IN_SNAPSHOT'
  | 'ROLE_NOT_DELEGATED'
  | 'TARGET_PATH_NOT_DELEGATED'
  | 'HARDWARE_ID_NOT_DELEGATED'
  // firmware against the chain
  | 'FIRMWARE_NOT_LOGGED'
  | 'FIRMWARE_HARDWARE_MISMATCH'
  | 'FIRMWARE_VERSION_MISMATCH'
  | 'LOGGED_FIRMWARE_NOT_SERVED'
  | 'FIRMWARE_ATTESTATION_MISSING'
  | 'FIRMWARE_ATTESTATION_MISMATCH'
  | 'FIRMWARE_ATTESTATION_INVALID'
  // the timestamp served now
  | 'TIMESTAMP_SIGNATURE_INVALID'
  | 'TIMESTAMP_SNAPSHOT_NOT_SERVED'
  | 'TIMESTAMP_SNAPSHOT_NOT_LOGGED'
  // attestations
  | 'ATTESTATION_SIGNATURE_INVALID'
  | 'ATTESTATION_WRONG_TYPE'
  | 'ATTESTATION_MALFORMED'
  | 'ATTESTATION_SUBJECT_MISMATCH'
  | 'ATTESTED_FIRMWARE_NOT_LOGGED'
  | 'VEHICLE_CERTIFICATE_INVALID'
  | 'VEHICLE_COMMITMENT_MISMATCH'
  | 'INSTALLED_DIGEST_NOT_LOGGED'
  | 'INSTALL_METADATA_NOT_LOGGED'
  | 'RECALLED_FIRMWARE_INSTALLED'
  | 'RECALLED_METADATA_INSTALLED'
  | 'INSTALLED_BEFORE_RECALL'
  | 'INSTALL_BELOW_MINIMUM_VERSION'
  | 'ATTESTATION_COUNTER_REUSED'
  | 'ATTESTATION_DUPLICATED'
  | 'ODOMETER_DECREASED'
  // vehicle revocation
  | 'REVOCATION_LIST_UNAVAILABLE'
  | 'REVOCATION_LIST_INVALID'
  | 'REVOCATION_LIST_STALE'
  | 'ATTESTATION_FROM_REVOKED_VEHICLE'
  | 'ATTESTATION_FROM_COMPROMISED_KEY'
  | 'ATTESTATION_CERTIFICATE_EXPIRED'
  // the transparency log
  | 'CHECKPOINT_SIGNATURE_INVALID'
  | 'CHECKPOINT_INCONSISTENT'
  | 'ANCHOR_ROOT_MISMATCH'
  | 'LOG_ENTRIES_MISSING'
  | 'LOG_BEHIND_ANCHOR'
  | 'LOG_RELEASE_NOT_ON_CHAIN'
  | 'ATTESTATION_NOT_IN_LOG'
  // the Uptane Director
  | 'DIRECTOR_TARGETS_NOT_LOGGED'
  | 'DIRECTOR_ASSIGNMENT_NOT_LOGGED'
  | 'INSTALL_NOT_ASSIGNED'
  | 'ECU_REPORT_UNSIGNED_BY_ECU'
  // campaigns
  | 'CAMPAIGN_EVENTS_GAP'
  | 'CAMPAIGN_WAVE_NOT_UNIFORM'
  | 'CAMPAIGN_WAVE_MEMBERS_MISMATCH'
  | 'CAMPAIGN_ASSIGNMENT_NOT_LOGGED'
  | 'CAMPAIGN_ASSIGNMENT_OUTSIDE_WAVE'
  | 'INSTALL_NOT_COVERED';

/** What each finding means, in one line (for reports and consoles). */
export const auditFindingMeanings: Readonly<Record<AuditFindingCode, string>> = {
  TRUSTED_ROOT_INVALID: 'the root the auditor was given does not verify with its own keys',
  ROOT_ROTATION_INVALID:
    'a served root is not signed by the thresholds of the previous and new root',
  AUDIT_SOURCE_UNAVAILABLE: 'a file the history needs could not be fetched from the source',
  FIRMWARE_KEY_MISSING: 'a firmware attestation was skipped: no firmware key was given',
  VEHICLE_CA_MISSING: 'an install attestation was skipped: no vehicle CA was given',
  SNAPSHOT_VERSION_MISSING: 'a snapshot version below the newest is not served',
  SNAPSHOT_MALFORMED: 'a served snapshot is not TUF snapshot metadata',
  SNAPSHOT_VERSION_MISMATCH: 'a snapshot file claims another version than its name',
  SNAPSHOT_SIGNATURE_INVALID:
    'a snapshot is not signed by a threshold of snapshot keys of any trusted root',
  SNAPSHOT_SIGNED_BY_ROTATED_KEYS:
    'a snapshot is signed only by keys a root rotation removed, after newer keys were in use',
  METADATA_HASH_MISMATCH: 'the served metadata does not hash to what the chain logged for it',
  METADATA_NOT_LOGGED: 'served metadata was never logged on chain',
  RELEASE_NOT_SERVED: 'a chain entry matches no served snapshot',
  ROLE_VERSION_DECREASED: 'a snapshot pins an older version of a role than an earlier snapshot',
  SNAPSHOT_META_MISMATCH: 'a role file differs from the length or hash its snapshot pins',
  TARGETS_MALFORMED: 'a targets role file is not TUF targets metadata',
  TARGETS_VERSION_MISMATCH: 'a targets role file claims another version than its name',
  TARGETS_SIGNATURE_INVALID:
    'top-level targets is not signed by a threshold of targets keys of any trusted root',
  TARGETS_SIGNED_BY_ROTATED_KEYS:
    'top-level targets is signed only by keys a root rotation removed, after newer keys were in use',
  DELEGATE_SIGNATURE_INVALID: 'a delegated role does not verify against the role delegating to it',
  ROLE_NOT_IN_SNAPSHOT: 'a delegated role is missing from the snapshot',
  ROLE_NOT_DELEGATED: 'the snapshot lists a role no trusted role delegates to',
  TARGET_PATH_NOT_DELEGATED: 'a role lists a target path no TUF client resolves to that role',
  HARDWARE_ID_NOT_DELEGATED: 'a supplier role lists firmware for a hardware ID it is not delegated',
  FIRMWARE_NOT_LOGGED: "firmware first served in a snapshot is not in that snapshot's chain entry",
  FIRMWARE_HARDWARE_MISMATCH: 'the chain entry logs the firmware digest for other hardware IDs',
  FIRMWARE_VERSION_MISMATCH: "the firmware's releaseCounter differs from the version logged for it",
  LOGGED_FIRMWARE_NOT_SERVED: 'a chain entry logs firmware its snapshot does not serve',
  FIRMWARE_ATTESTATION_MISSING: 'a firmware target names no Sigstore bundle a TUF client resolves',
  FIRMWARE_ATTESTATION_MISMATCH: 'the served Sigstore bundle differs from its TUF hash',
  FIRMWARE_ATTESTATION_INVALID:
    "the firmware's Sigstore bundle does not verify with the firmware key",
  TIMESTAMP_SIGNATURE_INVALID:
    'the timestamp is not signed by a threshold of timestamp keys of any trusted root',
  TIMESTAMP_SNAPSHOT_NOT_SERVED: 'the timestamp points at a snapshot the audit routes do not serve',
  TIMESTAMP_SNAPSHOT_NOT_LOGGED: 'the timestamp points at a snapshot that was never logged',
  ATTESTATION_SIGNATURE_INVALID: 'an attestation bundle does not verify',
  ATTESTATION_WRONG_TYPE: 'an install attestation has an unexpected predicate type',
  ATTESTATION_MALFORMED:
    'an install attestation predicate does not parse or carries no certificate',
  ATTESTATION_SUBJECT_MISMATCH:
    "an install attestation's subject digest differs from its predicate",
  ATTESTED_FIRMWARE_NOT_LOGGED: 'attested firmware was never logged on chain',
  VEHICLE_CERTIFICATE_INVALID:
    "an install attestation's certificate does not verify against the vehicle CA",
  VEHICLE_COMMITMENT_MISMATCH:
    'an install attestation names another vehicle or ECU than its certificate',
  INSTALLED_DIGEST_NOT_LOGGED: 'a vehicle installed firmware that was never logged',
  INSTALL_METADATA_NOT_LOGGED: 'a vehicle trusted metadata that was never logged',
  RECALLED_FIRMWARE_INSTALLED:
    'a vehicle installed firmware recalled at or before the block it trusted',
  RECALLED_METADATA_INSTALLED:
    'a vehicle installed from metadata recalled at or before the block it trusted',
  INSTALLED_BEFORE_RECALL: 'a vehicle installed firmware or metadata before its recall',
  INSTALL_BELOW_MINIMUM_VERSION: 'a vehicle installed a release below the on-chain minimum version',
  ATTESTATION_COUNTER_REUSED: 'an ECU used the same report counter twice',
  ATTESTATION_DUPLICATED:
    "the server lists one signed report more than once, in different encodings (not the vehicle's doing)",
  ODOMETER_DECREASED: "a vehicle's odometer went down between two reports",
  REVOCATION_LIST_UNAVAILABLE:
    'the vehicle CRL could not be fetched, or is required and not served',
  REVOCATION_LIST_INVALID:
    'the served vehicle CRL does not parse or was not signed by the vehicle CA',
  REVOCATION_LIST_STALE: 'the vehicle CRL is past its nextUpdate',
  ATTESTATION_FROM_REVOKED_VEHICLE: 'a report was signed after its certificate was revoked',
  ATTESTATION_FROM_COMPROMISED_KEY:
    "a report's certificate was later revoked for key compromise: the report may be backdated",
  ATTESTATION_CERTIFICATE_EXPIRED: 'a report was signed after its certificate expired',
  CHECKPOINT_SIGNATURE_INVALID: "a served checkpoint is not signed by the log's keys",
  CHECKPOINT_INCONSISTENT: 'a signed checkpoint is not the root of the served log at its size',
  ANCHOR_ROOT_MISMATCH: 'a root anchored on chain is not the root of the served log at its size',
  LOG_ENTRIES_MISSING: 'the log serves fewer entries than its checkpoints or anchors claim',
  LOG_BEHIND_ANCHOR: 'the chain anchored a larger log than is served',
  LOG_RELEASE_NOT_ON_CHAIN: 'a release entry in the log is not on chain',
  ATTESTATION_NOT_IN_LOG: 'a verified install attestation is not in the transparency log',
  DIRECTOR_TARGETS_NOT_LOGGED:
    'a served Director targets version is not the log entry at its index, or differs from it',
  DIRECTOR_ASSIGNMENT_NOT_LOGGED:
    'an install names Director targets (version and hash) that the log does not hold',
  INSTALL_NOT_ASSIGNED: 'an ECU installed an image its logged Director targets do not assign to it',
  ECU_REPORT_UNSIGNED_BY_ECU:
    "an ECU's install result or manifest report is not signed by the key that ECU registered",
  CAMPAIGN_EVENTS_GAP: "a campaign's logged state changes skip or repeat a seq",
  CAMPAIGN_WAVE_NOT_UNIFORM:
    'a vehicle of a campaign wave received other images than the release set the campaign logged',
  CAMPAIGN_WAVE_MEMBERS_MISMATCH:
    'the wave members recomputed from the logged salt and the opened snapshot differ from those logged',
  CAMPAIGN_ASSIGNMENT_NOT_LOGGED:
    'a Director targets version names a campaign the log never created, or another vehicle',
  CAMPAIGN_ASSIGNMENT_OUTSIDE_WAVE:
    'a vehicle was assigned under a campaign but is in none of its recomputed waves',
  INSTALL_NOT_COVERED:
    'an install is covered by no campaign assignment and no explicit single-vehicle assignment',
};
