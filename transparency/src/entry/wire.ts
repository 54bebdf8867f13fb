// @tufchain/transparency/wire: the install-report and firmware predicates as they travel (types,
// zod schemas, parsers), and the names of tufchain's TUF layout.
export { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX } from '../wire/layout.js';
export {
  INSTALL_PREDICATE_TYPE,
  installPathSchema,
  installPredicateSchema,
  parseInstallPredicate,
  type InstallPath,
  type InstallPredicate,
  type InstallResult,
} from '../wire/install.js';
export {
  FIRMWARE_PREDICATE_TYPE,
  firmwarePredicateSchema,
  parseFirmwarePredicate,
  type FirmwarePredicate,
} from '../wire/firmware.js';
export {
  DIRECTOR_LOG_PROMISE_MEDIA_TYPE,
  computeEcuCommitment,
  directorTargetCustomSchema,
  directorTargetsCustomSchema,
  directorTargetsLogEntrySchema,
  ecuInstallResultSchema,
  ecuRegistrationSchema,
  ecuSerialSchema,
  ecuVersionReportSchema,
  hardwareIdSchema,
  installationReportSchema,
  installedImageSchema,
  parseDirectorTargets,
  parseWire,
  signedEcuInstallResultSchema,
  signedEcuVersionReportSchema,
  signedVehicleVersionManifestSchema,
  targetPathSchema,
  vehicleCommitmentSchema,
  vehicleVersionManifestSchema,
  type DirectorAssignment,
  type DirectorTargetCustom,
  type DirectorTargetsCustom,
  type DirectorTargetsLogEntry,
  type EcuInstallResult,
  type EcuRegistration,
  type EcuVersionReport,
  type SignedEcuInstallResult,
  type VehicleVersionManifest,
} from '../wire/director.js';
export {
  envelopeSchema,
  envelopeSignedBytes,
  signEnvelope,
  tufPublicKeySchema,
  verifyEnvelope,
  type EnvelopeSigner,
  type SignedEnvelope,
  type UptanePublicKey,
} from '../wire/uptane-envelope.js';
export {
  directorLogPromiseSchema,
  openDirectorLogPromise,
  type DirectorLogPromise,
  type OpenedDirectorLogPromise,
} from '../wire/log-promise.js';
export { createNoteVerifier, parseVerifierKey, type NoteVerifier } from '../note/signed-note.js';
export {
  contentDigest,
  ecdsaDerToRaw,
  parseVehicleSignature,
  signatureParamsValue,
  signVehicleRequest,
  vehicleSignatureBase,
  VEHICLE_SIGNATURE_ALG,
  VEHICLE_SIGNATURE_LABEL,
  type VehicleSignatureParams,
} from '../wire/vehicle-request-signature.js';
export {
  CAMPAIGN_EVENTS,
  campaignLogEntrySchema,
  campaignReleaseSchema,
  campaignUrnSchema,
  type CampaignEventKind,
  type CampaignLogEntry,
} from '../wire/campaign.js';
export {
  campaignMembersSha256,
  campaignReleaseSha256,
  cumulativeCount,
  waveMembers,
  waveRank,
} from '../wire/campaign-waves.js';
