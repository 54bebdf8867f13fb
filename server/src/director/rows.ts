/**
 * Rows of the Director's tables to records, and the errors of its uniqueness rules, for both
 * engines (SQLite migration 10, PostgreSQL migration 4: the same columns; flags are INTEGER 0/1 in
 * SQLite and BOOLEAN in PostgreSQL).
 */
import { ServerError } from '../error.js';
import { bytes, num, str, type StoredRow } from '../storage/rows.js';
import type {
  AssignmentRecord,
  AssignmentStatus,
  DirectorMetadataRecord,
  DirectorRole,
  DirectorRootRecord,
  InventoryVersion,
  ManifestRecord,
} from './store.js';

function bool(v: unknown): boolean {
  return typeof v === 'boolean' ? v : num(v) === 1;
}

function json<T>(v: unknown): T {
  return JSON.parse(str(v)) as T;
}

export function toDirectorRoot(row: StoredRow): DirectorRootRecord {
  return {
    version: num(row.version),
    bytes: bytes(row.bytes),
    sha256: str(row.sha256),
    expires: str(row.expires),
  };
}

export function toDirectorMetadata(row: StoredRow): DirectorMetadataRecord {
  return {
    vehicle: str(row.vehicle),
    role: str(row.role) as DirectorRole,
    version: num(row.version),
    bytes: bytes(row.bytes),
    sha256: str(row.sha256),
    expires: str(row.expires),
    logEntry: row.log_entry == null ? null : json(row.log_entry),
    logIndex: row.log_index == null ? null : num(row.log_index),
    ecuSalt: row.ecu_salt == null ? null : bytes(row.ecu_salt),
    createdAt: str(row.created_at),
  };
}

export function toInventory(row: StoredRow): InventoryVersion {
  return {
    vehicle: str(row.vehicle),
    version: num(row.version),
    registration: json(row.registration_json),
    signerSerial: str(row.signer_serial),
    createdAt: str(row.created_at),
  };
}

export function toAssignment(row: StoredRow): AssignmentRecord {
  return {
    id: num(row.id),
    vehicle: str(row.vehicle),
    correlationId: str(row.correlation_id),
    atomic: bool(row.atomic),
    status: str(row.status) as AssignmentStatus,
    images: json(row.images_json),
    createdBy: str(row.created_by),
    createdAt: str(row.created_at),
    updatedAt: str(row.updated_at),
    manifestId: row.manifest_id == null ? null : num(row.manifest_id),
  };
}

export function toManifest(row: StoredRow): ManifestRecord {
  return {
    id: num(row.id),
    vehicle: str(row.vehicle),
    manifestSha256: str(row.manifest_sha256),
    manifest: json(row.manifest_json),
    flags: json(row.flags_json),
    completedAssignments: json(row.completed_json),
    receivedAt: str(row.received_at),
  };
}

/** A new manifest's values in the column order of `MANIFEST_COLUMNS`. */
export function manifestValues(input: Omit<ManifestRecord, 'id'>): string[] {
  return [
    input.vehicle,
    input.manifestSha256,
    JSON.stringify(input.manifest),
    JSON.stringify(input.flags),
    JSON.stringify(input.completedAssignments),
    input.receivedAt,
  ];
}

export const MANIFEST_COLUMNS =
  'vehicle, manifest_sha256, manifest_json, flags_json, completed_json, received_at';

/** The WHERE clause and parameters of `DirectorStore.assignments`, `?` or `$n` placeholders. */
export function assignmentFilter(
  filter: { vehicle?: string; status?: AssignmentStatus },
  placeholder: (n: number) => string,
): { where: string; params: string[] } {
  const clauses: string[] = [];
  const params: string[] = [];
  for (const [column, value] of [
    ['vehicle', filter.vehicle],
    ['status', filter.status],
  ] as const) {
    if (value === undefined) continue;
    params.push(value);
    clauses.push(`${column} = ${placeholder(params.length)}`);
  }
  return { where: clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '', params };
}

/** Another writer appended an inventory version first (or `expectedPrevious` was stale). */
export function inventoryConflict(cause?: unknown): ServerError {
  return new ServerError('INVENTORY_CONFLICT', 'the ECU inventory changed meanwhile; retry', {
    cause,
  });
}

export function correlationIdTaken(correlationId: string, cause: unknown): ServerError {
  return new ServerError('CORRELATION_ID_REUSED', `${correlationId} is taken`, { cause });
}

export function manifestRecorded(sha256: string, cause: unknown): ServerError {
  return new ServerError('MANIFEST_ALREADY_RECORDED', `manifest ${sha256} is already recorded`, {
    cause,
  });
}
