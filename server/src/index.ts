export { createApp, createServerParts, type ServerDeps, type ServerParts } from './app.js';
export { startServer, type RunningServer } from './serve.js';
export {
  defaultConfig,
  resolveConfig,
  systemClock,
  type Clock,
  type Config,
  type ConfigInput,
} from './config.js';
export { ServerError, httpStatusOf, type ServerErrorCode } from './error.js';
export { openRepository, type OpenedRepository } from './storage/open.js';
export { SqliteStore } from './storage/sqlite-store.js';
export { FileBlobStore, type BlobStore } from './storage/blob-store.js';
export type * from './storage/store.js';
export { TOKEN_SCOPES } from './storage/store.js';
export { createApiToken } from './auth/tokens.js';
export {
  initRepository,
  initRepositoryFromRoot,
  type InitRepositoryFromRootOptions,
  type InitRepositoryOptions,
  type InitRepositoryResult,
} from './tuf/repository.js';
export {
  buildRoot,
  parseMetadata,
  recordOf,
  SPEC_VERSION,
  type OnlineSigners,
} from './tuf/metadata.js';
export { signMetadata, serializeMetadata, tufKeyOf, type TufSigner } from './tuf/signer.js';
export {
  BINS_ROLE,
  HARDWARE_IDS_FIELD,
  buildTargets,
  supplierRoleName,
  type SupplierInput,
} from './tuf/layout.js';
export { formatExpiry, expiryAfter } from './tuf/expiry.js';
export type {
  ReleaseLog,
  ReleaseEntry,
  ChainReceipt,
  MinimumVersionReceipt,
} from './tuf/release-log.js';
export {
  RepositoryService,
  attestationTargetName,
  type ReleaseTargetInput,
  type RoleStatus,
  type ChainLookup,
  type RecoveryReport,
} from './tuf/service.js';
export { createAttestationVerifier } from './attestation/default-verifier.js';
export type { TransparencyLogSink } from './log-sink.js';
export { openServerLog, ServerLog, type ServerLogOptions } from './log/open.js';
export { inclusionPromise, type InclusionPromise } from './log/promise.js';
export type { AttestationVerifier, FirmwareClaims, InstallClaims } from './attestation/verifier.js';
export {
  defaultVehicleEnrollmentConfig,
  resolveVehicleEnrollmentConfig,
  type VehicleEnrollmentConfig,
} from './vehicles/config.js';
export type {
  IssuedVehicleCertificate,
  VehicleRevocation,
  ReportAdmission,
} from './vehicles/service.js';
export type * from './storage/vehicle-store.js';
export {
  DirectorRepository,
  initDirectorFromRoot,
  type DirectorSigners,
} from './director/repository.js';
export { DirectorService, type AssignmentRequest } from './director/service.js';
export { SqliteDirectorStore } from './director/sqlite-store.js';
export { PostgresDirectorStore } from './director/postgres-store.js';
export type * from './director/store.js';
export { FleetService, membersSha256 } from './fleet/service.js';
export { SqliteFleetStore } from './fleet/sqlite-store.js';
export { PostgresFleetStore } from './fleet/postgres-store.js';
export type * from './fleet/store.js';
export { parseFilter, matchesFilter, type Filter } from './fleet/filter.js';
export type { AuthenticatedVehicle } from './director/store.js';
export type { ConsoleAlert, ConsoleAlertSource } from './console/alerts.js';
export { buildDirectorLogPromise, type DirectorLogPromise } from './director/log-promise.js';
