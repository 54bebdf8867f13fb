export {
  runUpdate,
  sendQueuedReports,
  type UpdateOptions,
  type UpdateResult,
  type InstallPathSummary,
  type RecoveryResult,
  type TargetSummary,
  type PreconditionsResult,
} from './agent.js';
export { AgentError, isAgentError, type AgentErrorCode } from './error.js';
export { defaultConfig, resolveConfig, type Config } from './config.js';
export { FileSlotStore, otherSlot } from './slots/ab-slots.js';
export type {
  SlotStore,
  SlotState,
  SlotImage,
  SlotName,
  SlotReader,
  SlotWriter,
} from './slots/slot-store.js';
export { UndiciFetcher } from './tuf/fetcher.js';
export { createDispatcher, type HttpConfig } from './util/http.js';
export {
  TufRepository,
  describeFirmwareTarget,
  type TufRepositoryOptions,
  type FirmwareTarget,
  type TrustedMetadata,
} from './tuf/updater.js';
export {
  verifyReleaseOnChain,
  hardwareIdHash,
  type ReleaseLog,
  type TrustedCheckpoint,
  type VerifiedRelease,
} from './verify/chain.js';
export { verifyFirmwareBundle, type FirmwareKey } from './verify/attestation.js';
export { streamIntoSlot, streamImage } from './install/stream.js';
export {
  installIntoSlot,
  type DeltaPlan,
  type InstallPath,
  type SlotInstallInput,
  type SlotInstallResult,
} from './install/delta-install.js';
export { DeltaImageSource, type DeltaRef, type DeltaSourceInput } from './install/delta-source.js';
export { chooseDelta, type DeltaChoice, type DeltaLookup } from './tuf/delta-target.js';
export { verifySlotReadback } from './install/slot-readback.js';
export type { ExpectedImage, ImageSink, ImageSource } from './install/image-io.js';
export {
  signInstallReport,
  type VehicleCredentials,
  type InstallReportBundle,
} from './report/attestation.js';
export { ReportOutbox, type FlushResult } from './report/outbox.js';
export {
  collectInclusionProofs,
  fetchProofBundle,
  isAnchorLookup,
  storedInclusionProof,
  type ProofVerification,
} from './report/proofs.js';
export {
  enrollVehicle,
  reenrollVehicle,
  EnrollmentError,
  type EnrolledVehicle,
  type EnrollVehicleOptions,
  type ReenrollVehicleOptions,
} from './enroll/enroll.js';
export {
  ensureVehicleCertificate,
  runUpdateWithRenewal,
  type CertificateCheck,
  type CertificateStanding,
  type RenewalOptions,
  type UpdateWithRenewalResult,
} from './enroll/renewal.js';
export {
  createOfflineBundle,
  installOfflineBundle,
  OfflineBundle,
  OFFLINE_BUNDLE_FORMAT,
  type OfflineInstallOptions,
} from './offline/bundle.js';
export {
  syncChainSnapshot,
  readChainSnapshot,
  SnapshotReleaseLog,
  type ChainSnapshot,
  type ReplayableReleaseLog,
} from './verify/chain-snapshot.js';
