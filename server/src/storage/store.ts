import type { VehicleRegistryStore } from './vehicle-store.js';

export type RoleName = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const roleNames: readonly RoleName[] = ['root', 'targets', 'snapshot', 'timestamp'];

export type MetadataState = 'staged' | 'published' | 'abandoned';

/** A top-level role or a delegated targets role (`bins`, `bins-3f`, `supplier-acme`). */
export type MetadataRole = string;

export interface MetadataRecord {
  role: MetadataRole;
  version: number;
  /** The exact bytes served for this role+version. */
  bytes: Uint8Array;
  sha256: string;
  expires: string;
  state: MetadataState;
}

export type NewMetadataRecord = Omit<MetadataRecord, 'state'>;

export interface BlobRecord {
  sha256: string;
  sha512: string;
  length: number;
}

export interface UploadRecord extends BlobRecord {
  name: string;
  uploadedAt: string;
}

/** pending -> logged (mined, not yet confirmed deep enough) -> confirmed (served); or failed; later revoked. */
export type ReleaseStatus = 'pending' | 'logged' | 'confirmed' | 'failed' | 'revoked';

export interface ChainRef {
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

export interface ReleaseRecord {
  id: number;
  status: ReleaseStatus;
  targetNames: string[];
  targetsVersion: number;
  metadataHash: string | null;
  chain: ChainRef | null;
  revocation: { targetsVersion: number; metadataHash: string; chain: ChainRef | null } | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * `enroll`: factory line tokens that may only enroll vehicles (POST /api/v1/vehicles/enroll);
 * `director:assign`: Director assignments; `fleet`: vehicle attributes, groups and snapshots;
 * `audit`: read-only (the routes any token may read, and the web console), never a change;
 * `campaigns`: staged rollouts.
 */
export const TOKEN_SCOPES = [
  'publish',
  'revoke',
  'admin',
  'enroll',
  'director:assign',
  'fleet',
  'campaigns',
  'audit',
] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface TokenRecord {
  id: string;
  name: string;
  secretSha256: string;
  scopes: TokenScope[];
  createdAt: string;
  /** After this instant the token is refused (TOKEN_EXPIRED); null: it does not expire. */
  expiresAt: string | null;
  /** When it was revoked (TOKEN_REVOKED); null while it is valid. */
  revokedAt: string | null;
  /** The last request it authenticated, to the minute. */
  lastUsedAt: string | null;
}

export type RevokeTokenOutcome = 'REVOKED' | 'NOT_FOUND' | 'ALREADY_REVOKED';

/** A digest whose release was revoked: its bytes are never uploaded or released again. */
export interface RevokedDigestRecord {
  sha256: string;
  releaseId: number;
  revokedAt: string;
}

export interface IdempotencyRecord {
  key: string;
  route: string;
  requestSha256: string;
  status: number;
  responseJson: string;
  createdAt: string;
}

export interface AttestationRecord {
  id: number;
  /**
   * The report's identity: what the vehicle signed, with which key (InstallClaims.reportDigest).
   * Null only for a row from before migration 7 that could not be read.
   */
  reportSha256: string | null;
  /** The predicate's counter; null as above. */
  counter: number | null;
  bundleSha256: string;
  /** Always valid JSON for new rows (canonicalJson); rows from before may need parseCanonicalJson. */
  bundleJson: string;
  vinCommitment: string;
  ecuSerial: string;
  targetName: string;
  result: string;
  receivedAt: string;
  /** Index in the transparency log, once appended. */
  logIndex: number | null;
}

/**
 * Everything the server persists besides blob bytes. Async so that a networked
 * backend (PostgreSQL) can implement it without changing callers.
 */
/** Hears commits of served metadata made by any process on the database. */
export interface MetadataCommitWatch {
  /** False while commits may go unheard (the listening connection is down). */
  live(): boolean;
  close(): Promise<void>;
}

export interface RepositoryStore extends VehicleRegistryStore {
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Calls `onCommit` after every commit of served metadata: through this store object (SQLite,
   * which one process writes), or by any process on the database (PostgreSQL LISTEN/NOTIFY).
   * Caches of served metadata empty themselves on it.
   */
  watchMetadataCommits?(onCommit: () => void): Promise<MetadataCommitWatch>;

  /** The published record the `current` pointer of `role` points at. */
  currentMetadata(role: MetadataRole): Promise<MetadataRecord | undefined>;
  /** Version, sha256 and expiry of the current record, without its bytes (cheap cache validation). */
  currentMetadataDigest(
    role: MetadataRole,
  ): Promise<{ version: number; sha256: string; expires: string } | undefined>;
  /**
   * currentMetadataDigest of every role that has a current record, in one read: a scan of the
   * served targets roles (129 with bins) is one round trip instead of one per role.
   */
  currentMetadataDigests(): Promise<
    Map<MetadataRole, { version: number; sha256: string; expires: string }>
  >;
  /** A published role+version (staged or abandoned versions are invisible). */
  publishedMetadata(role: MetadataRole, version: number): Promise<MetadataRecord | undefined>;
  publishedVersions(role: MetadataRole): Promise<number[]>;
  /** Highest version ever stored for a role, in any state (0 if none). */
  maxVersion(role: MetadataRole): Promise<number>;
  /** Stages records as one batch; `batch` names the publish (e.g. `release:7`) for crash recovery. */
  stageMetadata(records: NewMetadataRecord[], batch?: string): Promise<void>;
  /** Staged (neither published nor abandoned) records grouped by batch, oldest first. */
  stagedBatches(): Promise<{ batch: string; records: MetadataRecord[] }[]>;
  /** The batch that staged a role version (e.g. `release:7`), if any. */
  metadataBatch(role: MetadataRole, version: number): Promise<string | undefined>;
  /**
   * Publishes staged records and moves each role's `current` pointer to them in
   * ONE transaction; `alsoUpdateRelease` is applied in the same transaction.
   */
  commitMetadata(
    records: { role: MetadataRole; version: number }[],
    alsoUpdateRelease?: { id: number; patch: ReleasePatch },
  ): Promise<void>;
  abandonMetadata(records: { role: MetadataRole; version: number }[]): Promise<void>;
  /** Drops every unpublished row; only while nothing is published (a bootstrap that failed). */
  discardFailedBootstrap(): Promise<void>;

  recordBlob(blob: BlobRecord): Promise<void>;
  blobBySha256(sha256: string): Promise<BlobRecord | undefined>;
  blobBySha512(sha512: string): Promise<BlobRecord | undefined>;
  /** Names uploaded bytes; refuses bytes whose release was revoked (TARGET_REVOKED), atomically. */
  putUpload(upload: UploadRecord): Promise<void>;
  upload(name: string): Promise<UploadRecord | undefined>;

  createRelease(input: { targetNames: string[]; targetsVersion: number }): Promise<ReleaseRecord>;
  updateRelease(id: number, patch: ReleasePatch): Promise<void>;
  release(id: number): Promise<ReleaseRecord | undefined>;
  releases(): Promise<ReleaseRecord[]>;

  idempotency(key: string): Promise<IdempotencyRecord | undefined>;
  saveIdempotency(record: IdempotencyRecord): Promise<void>;
  deleteIdempotencyBefore(createdAt: string): Promise<void>;

  insertToken(token: TokenRecord): Promise<void>;
  token(id: string): Promise<TokenRecord | undefined>;
  /** Every token, oldest first. */
  tokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, revokedAt: string): Promise<RevokeTokenOutcome>;
  /** Records a use; writes only when the stored time is older than `minIntervalMs`. */
  touchToken(id: string, usedAt: string, minIntervalMs: number): Promise<void>;

  /** Adds or replaces an append the transparency log is owed (tuf/log-outbox.ts). */
  putLogOutbox(record: LogOutboxRecord): Promise<void>;
  /** Every owed append, oldest first. */
  logOutbox(): Promise<LogOutboxRecord[]>;
  deleteLogOutbox(id: string): Promise<void>;

  /** Records the digests of a revoked release (idempotent). */
  recordRevokedDigests(records: RevokedDigestRecord[]): Promise<void>;
  revokedDigest(sha256: string): Promise<RevokedDigestRecord | undefined>;

  /**
   * Stores a verified report once: a report with the same `reportSha256` (or the same bundle) is
   * answered as it was stored (`created: false`); otherwise its counter must be above every
   * counter of the same vehicle commitment and ECU serial (REPORT_COUNTER_REPLAYED). Atomic.
   */
  insertAttestation(
    input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
      reportSha256: string;
      counter: number;
    },
  ): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }>;
  setAttestationLogIndex(id: number, logIndex: number): Promise<void>;
  attestations(opts?: { afterId?: number; limit?: number }): Promise<AttestationRecord[]>;
}

/** Log appends owed after a publish, kept until they are done (tuf/log-outbox.ts). */
export interface LogOutboxRecord {
  id: string;
  /** The snapshot whose commit makes the appends due (dropped if it is abandoned); null: due now. */
  snapshotVersion: number | null;
  /** JSON of the appends (LogCall[]). */
  callsJson: string;
  /** JSON of the snapshot's chain receipt, once known. */
  chainJson: string | null;
  createdAt: string;
}

export interface ReleasePatch {
  status?: ReleaseStatus;
  targetsVersion?: number;
  metadataHash?: string | null;
  chain?: ChainRef | null;
  revocation?: ReleaseRecord['revocation'];
  error?: string | null;
}
