import type { RevocationReason } from '@tufchain/keys';
import { num, str, toVehicleCertificate } from './rows.js';
import { settle, type SqliteDb } from './sqlite-db.js';
import type {
  RevokeVehicleOutcome,
  VehicleCertificateRecord,
  VehicleCrlRecord,
} from './vehicle-store.js';

export function insertVehicleCertificate(db: SqliteDb, r: VehicleCertificateRecord): Promise<void> {
  return settle(() => {
    db.run(
      `INSERT INTO vehicle_certificates (serial_number, vin_commitment, ecu_serial, public_key_sha256, certificate_pem,
         not_before, not_after, issued_at, enrolled_by, previous_serial_number, revoked_at, revocation_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    );
  });
}

export function vehicleCertificate(
  db: SqliteDb,
  serialNumber: string,
): Promise<VehicleCertificateRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM vehicle_certificates WHERE serial_number = ?', serialNumber);
    return row ? toVehicleCertificate(row) : undefined;
  });
}

export function vehicleCertificateSuccessors(
  db: SqliteDb,
  serialNumber: string,
): Promise<VehicleCertificateRecord[]> {
  return settle(() => {
    return db
      .all(
        'SELECT * FROM vehicle_certificates WHERE previous_serial_number = ? ORDER BY issued_at DESC, rowid DESC',
        serialNumber,
      )
      .map(toVehicleCertificate);
  });
}

export function vehicleCertificatesByKey(
  db: SqliteDb,
  publicKeySha256: string,
): Promise<VehicleCertificateRecord[]> {
  return settle(() => {
    return db
      .all(
        'SELECT * FROM vehicle_certificates WHERE public_key_sha256 = ? ORDER BY issued_at, rowid',
        publicKeySha256,
      )
      .map(toVehicleCertificate);
  });
}

export function revokeVehicleCertificate(
  db: SqliteDb,
  serialNumber: string,
  revokedAt: string,
  reason: RevocationReason,
): Promise<RevokeVehicleOutcome> {
  return settle(() => {
    const outcome = db.transaction((): RevokeVehicleOutcome => {
      const row = db.get(
        'SELECT revoked_at FROM vehicle_certificates WHERE serial_number = ?',
        serialNumber,
      );
      if (!row) return 'NOT_FOUND';
      if (row.revoked_at != null) return 'ALREADY_REVOKED';
      db.run(
        'UPDATE vehicle_certificates SET revoked_at = ?, revocation_reason = ? WHERE serial_number = ?',
        revokedAt,
        reason,
        serialNumber,
      );
      return 'REVOKED';
    });
    return outcome;
  });
}

export function revokedVehicleCertificates(db: SqliteDb): Promise<VehicleCertificateRecord[]> {
  return settle(() => {
    return db
      .all(
        'SELECT * FROM vehicle_certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial_number',
      )
      .map(toVehicleCertificate);
  });
}

export function latestVehicleCrl(db: SqliteDb): Promise<VehicleCrlRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM vehicle_crls ORDER BY crl_number DESC LIMIT 1');
    return row
      ? {
          crlNumber: num(row.crl_number),
          pem: str(row.pem),
          thisUpdate: str(row.this_update),
          nextUpdate: str(row.next_update),
        }
      : undefined;
  });
}

export function insertVehicleCrl(db: SqliteDb, r: VehicleCrlRecord): Promise<boolean> {
  return settle(() => {
    const { changes } = db.run(
      `INSERT INTO vehicle_crls (crl_number, pem, this_update, next_update) VALUES (?, ?, ?, ?)
       ON CONFLICT (crl_number) DO NOTHING`,
      r.crlNumber,
      r.pem,
      r.thisUpdate,
      r.nextUpdate,
    );
    return changes === 1;
  });
}
