/**
 * Rows of the repository store's tables to records, for both engines (SQLite and PostgreSQL share
 * the schema's column names and types; only BLOB/bytea, INTEGER/BIGINT and the legacy token
 * column differ, and each store handles those itself).
 */
import type { RevocationReason } from '@tufchain/keys';
import { ServerError } from '../error.js';
import type {
  AttestationRecord,
  BlobRecord,
  ChainRef,
  LogOutboxRecord,
  ReleaseRecord,
  TokenRecord,
  TokenScope,
} from './store.js';
import type { VehicleCertificateRecord } from './vehicle-store.js';

export type StoredRow = Record<string, unknown>;

export function str(v: unknown): string {
  if (typeof v !== 'string') throw new ServerError('STORAGE_FAILED', 'expected a text column');
  return v;
}

/**
 * An integer column: a number, a bigint (node:sqlite past 2^53), or a decimal string (`pg` keeps
 * BIGINT exact that way).
 */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new ServerError('STORAGE_FAILED', 'expected an integer column');
}

/** A BLOB (node:sqlite's Uint8Array) or bytea (pg's Buffer) column, as a plain Uint8Array. */
export function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new ServerError('STORAGE_FAILED', 'expected a byte column');
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function optStr(v: unknown): string | null {
  return v == null ? null : str(v);
}

export function toToken(row: StoredRow): TokenRecord {
  return {
    id: str(row['id']),
    name: str(row['name']),
    secretSha256: str(row['secret_sha256']),
    scopes: JSON.parse(str(row['scopes'])) as TokenScope[],
    createdAt: str(row['created_at']),
    expiresAt: optStr(row['expires_at']),
    revokedAt: optStr(row['revoked_at']),
    lastUsedAt: optStr(row['last_used_at']),
  };
}

export function toBlob(row: StoredRow): BlobRecord {
  return { sha256: str(row['sha256']), sha512: str(row['sha512']), length: num(row['length']) };
}

export function toLogOutbox(row: StoredRow): LogOutboxRecord {
  return {
    id: str(row.id),
    snapshotVersion: row.snapshot_version == null ? null : num(row.snapshot_version),
    callsJson: str(row.calls_json),
    chainJson: optStr(row.chain_json),
    createdAt: str(row.created_at),
  };
}

export function toRelease(row: StoredRow): ReleaseRecord {
  return {
    id: num(row['id']),
    status: str(row['status']) as ReleaseRecord['status'],
    targetNames: JSON.parse(str(row['target_names'])) as string[],
    targetsVersion: num(row['targets_version']),
    metadataHash: optStr(row['metadata_hash']),
    chain: row['chain_json'] == null ? null : (JSON.parse(str(row['chain_json'])) as ChainRef),
    revocation:
      row['revocation_json'] == null
        ? null
        : (JSON.parse(str(row['revocation_json'])) as ReleaseRecord['revocation']),
    error: optStr(row['error']),
    createdAt: str(row['created_at']),
    updatedAt: str(row['updated_at']),
  };
}

export function toVehicleCertificate(row: StoredRow): VehicleCertificateRecord {
  return {
    serialNumber: str(row['serial_number']),
    vinCommitment: str(row['vin_commitment']),
    ecuSerial: str(row['ecu_serial']),
    publicKeySha256: str(row['public_key_sha256']),
    certificatePem: str(row['certificate_pem']),
    notBefore: str(row['not_before']),
    notAfter: str(row['not_after']),
    issuedAt: str(row['issued_at']),
    enrolledBy: str(row['enrolled_by']),
    previousSerialNumber: optStr(row['previous_serial_number']),
    revokedAt: optStr(row['revoked_at']),
    revocationReason: optStr(row['revocation_reason']) as RevocationReason | null,
  };
}

export function toAttestation(row: StoredRow): AttestationRecord {
  return {
    id: num(row.id),
    reportSha256: optStr(row.report_sha256),
    counter: row.counter == null ? null : num(row.counter),
    bundleSha256: str(row.bundle_sha256),
    bundleJson: str(row.bundle_json),
    vinCommitment: str(row.vin_commitment),
    ecuSerial: str(row.ecu_serial),
    targetName: str(row.target_name),
    result: str(row.result),
    receivedAt: str(row.received_at),
    logIndex: row.log_index == null ? null : num(row.log_index),
  };
}

/** Staging a role+version another writer stored first (both engines answer the same). */
/** A new report's values in the column order both stores insert them in. */
export function attestationValues(
  r: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
    reportSha256: string;
    counter: number;
  },
): [string, number, string, string, string, string, string, string, string] {
  return [
    r.reportSha256,
    r.counter,
    r.bundleSha256,
    r.bundleJson,
    r.vinCommitment,
    r.ecuSerial,
    r.targetName,
    r.result,
    r.receivedAt,
  ];
}

export function versionTaken(r: { role: string; version: number }, cause: unknown): ServerError {
  return new ServerError(
    'METADATA_VERSION_TAKEN',
    `${r.role} v${r.version.toString()} is already stored; retry the publish`,
    { cause },
  );
}
