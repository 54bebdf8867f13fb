import type { RevocationReason } from '@tufchain/keys';
import { GroupCommit } from '@tufchain/transparency';
import type pg from 'pg';
import { queryRow, queryRows } from './postgres-db.js';
import { num, str, toVehicleCertificate } from './rows.js';
import type {
  RevokeVehicleOutcome,
  VehicleCertificateRecord,
  VehicleCrlRecord,
} from './vehicle-store.js';

export async function insertVehicleCertificate(
  pool: pg.Pool,
  r: VehicleCertificateRecord,
): Promise<void> {
  await pool.query(
    `INSERT INTO vehicle_certificates (serial_number, vin_commitment, ecu_serial, public_key_sha256, certificate_pem,
       not_before, not_after, issued_at, enrolled_by, previous_serial_number, revoked_at, revocation_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      r.serialNumber,
      r.vinCommitment,
      r.ecuSerial,
      r.publicKeySha256,
      r.certificatePem,
      r.notBefore,
      r.notAfter,
      r.issuedAt,
      r.enrolledBy,
      r.previousSerialNumber,
      r.revokedAt,
      r.revocationReason,
    ],
  );
}

/**
 * vehicleCertificate for lookups that arrive together (every install report makes one): one
 * query for each batch. A lookup runs no earlier than it was asked, so it is never staler than
 * vehicleCertificate would be.
 */
export function certificateReader(
  pool: pg.Pool,
): GroupCommit<string, VehicleCertificateRecord | undefined> {
  return new GroupCommit<string, VehicleCertificateRecord | undefined>(async (serials) => {
    if (serials.length === 1) return [await vehicleCertificate(pool, serials[0]!)];
    const rows = await queryRows(
      pool,
      'SELECT * FROM vehicle_certificates WHERE serial_number = ANY($1::text[])',
      [[...new Set(serials)]],
    );
    const bySerial = new Map(rows.map((row) => [str(row.serial_number), row]));
    return serials.map((serial) => {
      const row = bySerial.get(serial);
      return row ? toVehicleCertificate(row) : undefined;
    });
  });
}

export async function vehicleCertificate(
  pool: pg.Pool,
  serialNumber: string,
): Promise<VehicleCertificateRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM vehicle_certificates WHERE serial_number = $1', [
    serialNumber,
  ]);
  return row ? toVehicleCertificate(row) : undefined;
}

export async function vehicleCertificateSuccessors(
  pool: pg.Pool,
  serialNumber: string,
): Promise<VehicleCertificateRecord[]> {
  const rows = await queryRows(
    pool,
    `SELECT * FROM vehicle_certificates WHERE previous_serial_number = $1
     ORDER BY issued_at COLLATE "C" DESC, seq DESC`,
    [serialNumber],
  );
  return rows.map(toVehicleCertificate);
}

export async function vehicleCertificatesByKey(
  pool: pg.Pool,
  publicKeySha256: string,
): Promise<VehicleCertificateRecord[]> {
  const rows = await queryRows(
    pool,
    `SELECT * FROM vehicle_certificates WHERE public_key_sha256 = $1
     ORDER BY issued_at COLLATE "C", seq`,
    [publicKeySha256],
  );
  return rows.map(toVehicleCertificate);
}

export async function revokeVehicleCertificate(
  pool: pg.Pool,
  serialNumber: string,
  revokedAt: string,
  reason: RevocationReason,
): Promise<RevokeVehicleOutcome> {
  const revoked = await pool.query(
    `UPDATE vehicle_certificates SET revoked_at = $1, revocation_reason = $2
     WHERE serial_number = $3 AND revoked_at IS NULL`,
    [revokedAt, reason, serialNumber],
  );
  if (revoked.rowCount === 1) return 'REVOKED';
  return (await queryRow(pool, 'SELECT 1 AS x FROM vehicle_certificates WHERE serial_number = $1', [
    serialNumber,
  ]))
    ? 'ALREADY_REVOKED'
    : 'NOT_FOUND';
}

export async function revokedVehicleCertificates(
  pool: pg.Pool,
): Promise<VehicleCertificateRecord[]> {
  const rows = await queryRows(
    pool,
    `SELECT * FROM vehicle_certificates WHERE revoked_at IS NOT NULL
     ORDER BY revoked_at COLLATE "C", serial_number COLLATE "C"`,
  );
  return rows.map(toVehicleCertificate);
}

export async function latestVehicleCrl(pool: pg.Pool): Promise<VehicleCrlRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM vehicle_crls ORDER BY crl_number DESC LIMIT 1');
  return row
    ? {
        crlNumber: num(row.crl_number),
        pem: str(row.pem),
        thisUpdate: str(row.this_update),
        nextUpdate: str(row.next_update),
      }
    : undefined;
}

export async function insertVehicleCrl(pool: pg.Pool, r: VehicleCrlRecord): Promise<boolean> {
  const inserted = await pool.query(
    `INSERT INTO vehicle_crls (crl_number, pem, this_update, next_update) VALUES ($1, $2, $3, $4)
     ON CONFLICT (crl_number) DO NOTHING`,
    [r.crlNumber, r.pem, r.thisUpdate, r.nextUpdate],
  );
  return inserted.rowCount === 1;
}
