import type { DirectorTargetsLogEntry, EcuRegistration } from '@tufchain/transparency/wire';

/** A Director root version, exactly as signed offline. */
export interface DirectorRootRecord {
  version: number;
  bytes: Uint8Array;
  sha256: string;
  expires: string;
}

export type DirectorRole = 'targets' | 'snapshot' | 'timestamp';

/** One version of one role of one vehicle's Director metadata. */
export interface DirectorMetadataRecord {
  vehicle: string;
  role: DirectorRole;
  version: number;
  bytes: Uint8Array;
  sha256: string;
  expires: string;
  /** Targets only: the log entry appended before the version was served, and its index. */
  logEntry: DirectorTargetsLogEntry | null;
  logIndex: number | null;
  /** Targets only: the salt of the entry's ECU commitments, for OEM openings; never public. */
  ecuSalt: Uint8Array | null;
  createdAt: string;
}

export interface InventoryVersion {
  vehicle: string;
  version: number;
  registration: EcuRegistration;
  /** Serial of the vehicle certificate that signed the request. */
  signerSerial: string;
  createdAt: string;
}

export type AssignmentStatus = 'active' | 'cancelled' | 'completed';

/** One image of an assignment, as the Director targets lists it for one ECU. */
export interface AssignedImage {
  ecuSerial: string;
  hardwareId: string;
  name: string;
  length: number;
  sha256: string;
  sha512?: string;
  releaseCounter: number;
}

export interface AssignmentRecord {
  id: number;
  vehicle: string;
  correlationId: string;
  atomic: boolean;
  status: AssignmentStatus;
  images: AssignedImage[];
  /** `token:<id>` of the OEM token that made it. */
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  /** The manifest that completed it. */
  manifestId: number | null;
}

export type ManifestFlagCode =
  | 'ECU_UNKNOWN'
  | 'ECU_MISSING'
  | 'ECU_KEY_MISMATCH'
  | 'IMAGE_NOT_ASSIGNED'
  | 'REPORT_COUNTER_REPLAYED'
  | 'NONCE_REPLAYED'
  | 'ATTACK_REPORTED';

export interface ManifestFlag {
  ecuSerial: string;
  flag: ManifestFlagCode;
  detail: string;
}

/** What one ECU's report said, and whether it counts (signed by its key, not replayed). */
export interface EcuReportRecord {
  ecuSerial: string;
  reportCounter: number;
  nonce: string;
  filepath: string;
  sha256: string;
  trusted: boolean;
}

export interface ManifestRecord {
  id: number;
  vehicle: string;
  manifestSha256: string;
  manifest: unknown;
  flags: ManifestFlag[];
  completedAssignments: number[];
  receivedAt: string;
}

/**
 * What the Director persists, in the repository's database: SqliteDirectorStore (its migration
 * 10) or PostgresDirectorStore (its migration 4), with the same semantics and error codes.
 */
export interface DirectorStore {
  close(): Promise<void>;

  currentDirectorRoot(): Promise<DirectorRootRecord | undefined>;
  directorRoot(version: number): Promise<DirectorRootRecord | undefined>;
  insertDirectorRoot(record: DirectorRootRecord, createdAt: string): Promise<void>;

  /** Highest version of a role of a vehicle, staged or published (0 if none). */
  maxDirectorVersion(vehicle: string, role: DirectorRole): Promise<number>;
  /** The newest published version of a role of a vehicle. */
  currentDirectorMetadata(
    vehicle: string,
    role: DirectorRole,
  ): Promise<DirectorMetadataRecord | undefined>;
  publishedDirectorMetadata(
    vehicle: string,
    role: DirectorRole,
    version: number,
  ): Promise<DirectorMetadataRecord | undefined>;
  /** Stores records invisible to vehicles until publishDirectorMetadata. */
  stageDirectorMetadata(records: DirectorMetadataRecord[]): Promise<void>;
  /** Makes staged records visible, recording the targets version's log index, in one transaction. */
  publishDirectorMetadata(
    records: { vehicle: string; role: DirectorRole; version: number }[],
    targetsLogIndex?: number | null,
  ): Promise<void>;
  /** Staged records (a crash between staging and publishing), oldest first. */
  stagedDirectorMetadata(): Promise<DirectorMetadataRecord[]>;
  /** Every published targets version (all vehicles, or one), by vehicle then version. */
  publishedDirectorTargets(vehicle?: string): Promise<DirectorMetadataRecord[]>;

  latestInventory(vehicle: string): Promise<InventoryVersion | undefined>;
  appendInventory(
    input: Omit<InventoryVersion, 'version'>,
    expectedPrevious: number,
  ): Promise<InventoryVersion>;
  inventoryHistory(vehicle: string): Promise<InventoryVersion[]>;

  insertAssignment(
    input: Omit<AssignmentRecord, 'id' | 'manifestId' | 'updatedAt'>,
  ): Promise<AssignmentRecord>;
  assignment(id: number): Promise<AssignmentRecord | undefined>;
  assignmentByCorrelationId(correlationId: string): Promise<AssignmentRecord | undefined>;
  assignments(filter: { vehicle?: string; status?: AssignmentStatus }): Promise<AssignmentRecord[]>;
  setAssignmentStatus(
    id: number,
    status: AssignmentStatus,
    updatedAt: string,
    manifestId?: number,
  ): Promise<void>;

  manifestBySha256(sha256: string): Promise<ManifestRecord | undefined>;
  manifests(vehicle: string): Promise<ManifestRecord[]>;
  insertManifest(
    input: Omit<ManifestRecord, 'id'>,
    reports: EcuReportRecord[],
  ): Promise<ManifestRecord>;
  /** Highest counter this ECU ever reported (trusted reports only), or undefined. */
  lastReportCounter(vehicle: string, ecuSerial: string): Promise<number | undefined>;
  /** Whether an earlier manifest of this vehicle carried this nonce. */
  nonceSeen(vehicle: string, nonce: string): Promise<boolean>;
  /** The image of the first trusted report of an ECU (its factory image), if any. */
  firstReportedImage(
    vehicle: string,
    ecuSerial: string,
  ): Promise<{ filepath: string; sha256: string } | undefined>;
}

/** A vehicle whose request signature verified (director/vehicle-auth.ts). */
export interface AuthenticatedVehicle {
  serialNumber: string;
  vinCommitment: string;
  /** The primary ECU's serial, from the certificate. */
  ecuSerial: string;
  /** SPKI PEM of the vehicle key (the primary ECU's key). */
  publicKeyPem: string;
}
