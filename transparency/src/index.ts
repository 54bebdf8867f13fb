// The vehicle-side entry points, whole (see package.json exports).
export * from './entry/chain.js';
export * from './entry/wire.js';
export type { AuditFinding, AuditReport, AuditSource } from './audit/source.js';
export { auditFindingMeanings, type AuditFindingCode } from './audit/finding-code.js';
export {
  auditRepository,
  type AuditChain,
  type AuditOptions,
  type AuditResult,
  type VerifiedInstall,
} from './audit/auditor.js';
export { createHttpAuditSource, type HttpAuditSourceOptions } from './audit/http-source.js';
export {
  auditDirector,
  inventoryAt,
  type DirectorAuditInput,
  type DirectorAuditSummary,
  type DirectorInstall,
  type DirectorInventoryVersion,
  type DirectorManifestRecord,
  type DirectorServedVersion,
  type DirectorVehicleRecord,
  type DirectorVersionOpening,
  type LoggedDirectorTargets,
} from './audit/director.js';
export {
  auditCampaigns,
  type CampaignAuditInput,
  type CampaignAuditInstall,
  type CampaignAuditSummary,
} from './audit/campaigns.js';
export { sha256Hex } from './util/hex.js';
export {
  parseSnapshotMetadata,
  parseTargetsMetadata,
  type ParsedMetadata,
} from './wire/tuf-metadata.js';
export { AUDIT_USAGE, formatAuditSummary, runAuditCli, type AuditCliIo } from './audit/cli.js';
export { EMPTY_ROOT, hashChildren, hashLeaf, type Hash } from './merkle/hash.js';
export {
  consistencyProof,
  inclusionProof,
  rootFromInclusionProof,
  subtreeRoot,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  type NodeSource,
} from './merkle/proof.js';
export { appendLeafHash, MemoryTree } from './merkle/memory-tree.js';
export { frontier, withNodes, type NodeCoord } from './merkle/prefetch.js';
export {
  computeNoteKeyId,
  createNoteSigner,
  createNoteVerifier,
  formatVerifierKey,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type ParsedNote,
} from './note/signed-note.js';
export {
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from './note/checkpoint.js';
export { openLogDatabase, inTransaction } from './log/sqlite.js';
export {
  appendEachOnce,
  SqliteLogStorage,
  type LogStorage,
  type StoredCheckpoint,
  type StoredEntry,
} from './log/storage.js';
export {
  canonicalJson,
  decodeLogEntry,
  encodeLogEntry,
  EncodedLogEntry,
  parseCanonicalJson,
  type InstallLogEntry,
  type LogEntryDocument,
  type RecallLogEntry,
  type ReleaseLogEntry,
} from './log/entry.js';
export { GroupCommit } from './util/group-commit.js';
export {
  TransparencyLog,
  type AppendedEntry,
  type TransparencyLogOptions,
} from './log/transparency-log.js';
export {
  anchorFromRow,
  outboxStats,
  SqliteAnchorOutbox,
  type AnchorOutbox,
  type AnchorRow,
  type AnchorOutboxStats,
  type AnchorRecord,
  type AnchorStatus,
} from './anchor/outbox.js';
export {
  AnchorService,
  defaultAnchorConfig,
  type AnchorConfig,
  type AnchorHealth,
  type AnchorServiceOptions,
} from './anchor/service.js';
export { ChainSigner, createChainSigner } from './chain/chain-signer.js';
export {
  checkChainAccount,
  type ChainAccountCheckOptions,
  type ChainAccountStatus,
} from './chain/account-check.js';
export * from './entry/proof-bundle.js';
export { createProofBundle } from './bundle/proof-bundle.js';
export { CompactRange } from './merkle/compact-range.js';
export {
  createHttpLogAuditSource,
  createLocalLogAuditSource,
  type LogAuditSource,
} from './audit/log-source.js';
export {
  auditLog,
  installLeafHash,
  installLeafHashes,
  type LogAuditInput,
  type LogAuditOutput,
} from './audit/log-audit.js';
export {
  createVehicleAuditPacks,
  VEHICLE_AUDIT_PACK_MEDIA_TYPE,
  vehicleAuditPackSchema,
  verifyVehicleAuditPack,
  writeVehicleAuditPack,
  type AuditPackChain,
  type VehicleAuditPack,
  type VerifiedAuditPackInstall,
} from './audit/audit-pack.js';
export {
  LogService,
  MAX_ENTRIES_PAGE,
  type LogServiceOptions,
  type LogStores,
} from './log/log-service.js';
export {
  createOfflineBundle,
  OfflineBundle,
  OFFLINE_BUNDLE_FORMAT,
  type OfflineBundleManifest,
} from './bundle/offline-bundle.js';
export { readTarIndex, ustarHeader, padding, END_OF_ARCHIVE, type TarEntry } from './bundle/tar.js';
