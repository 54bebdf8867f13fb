import { ServerError } from '../error.js';
import { storedReportIdentity } from './report-identity.js';
import { attestationValues, num, str, toAttestation } from './rows.js';
import { settle, type SqliteDb } from './sqlite-db.js';
import type { AttestationRecord } from './store.js';

/** Gives reports stored before migration 7 their identity and counter (see report-identity.ts). */
export function fillReportIdentities(db: SqliteDb): void {
  const rows = db.all(
    'SELECT id, bundle_json FROM install_attestations WHERE report_sha256 IS NULL AND counter IS NULL',
  );
  if (rows.length === 0) return;
  db.transaction(() => {
    for (const row of rows) {
      const identity = storedReportIdentity(str(row.bundle_json));
      if (!identity) continue;
      // A report stored twice in two encodings (the replay this fixes) keeps one identity row.
      db.run(
        `UPDATE install_attestations SET counter = ?,
           report_sha256 = CASE WHEN EXISTS (SELECT 1 FROM install_attestations WHERE report_sha256 = ?)
             THEN NULL ELSE ? END
         WHERE id = ?`,
        identity.counter,
        identity.reportSha256,
        identity.reportSha256,
        num(row.id),
      );
    }
  });
}

export function insertAttestation(
  db: SqliteDb,
  input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
    reportSha256: string;
    counter: number;
  },
): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }> {
  return settle(() =>
    db.transaction(() => {
      const existing = db.get(
        `SELECT id, log_index, bundle_json FROM install_attestations
       WHERE report_sha256 = ? OR bundle_sha256 = ? ORDER BY id LIMIT 1`,
        input.reportSha256,
        input.bundleSha256,
      );
      if (existing) {
        const logIndex = existing.log_index == null ? null : num(existing.log_index);
        return {
          id: num(existing.id),
          created: false,
          logIndex,
          bundleJson: str(existing.bundle_json),
        };
      }
      const last = db.get(
        'SELECT MAX(counter) AS counter FROM install_attestations WHERE vin_commitment = ? AND ecu_serial = ?',
        input.vinCommitment,
        input.ecuSerial,
      );
      if (last?.counter != null && input.counter <= num(last.counter)) {
        throw new ServerError(
          'REPORT_COUNTER_REPLAYED',
          `ECU ${input.ecuSerial} already reported counter ${num(last.counter)}; this report has ${input.counter}`,
        );
      }
      const { lastInsertRowid } = db.run(
        `INSERT INTO install_attestations (report_sha256, counter, bundle_sha256, bundle_json, vin_commitment, ecu_serial, target_name, result, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ...attestationValues(input),
      );
      return { id: lastInsertRowid, created: true, logIndex: null, bundleJson: input.bundleJson };
    }),
  );
}

export function setAttestationLogIndex(db: SqliteDb, id: number, logIndex: number): Promise<void> {
  return settle(() => {
    db.run('UPDATE install_attestations SET log_index = ? WHERE id = ?', logIndex, id);
  });
}

export function attestations(
  db: SqliteDb,
  opts: { afterId?: number; limit?: number } = {},
): Promise<AttestationRecord[]> {
  return settle(() => {
    const rows = db.all(
      'SELECT * FROM install_attestations WHERE id > ? ORDER BY id LIMIT ?',
      opts.afterId ?? 0,
      opts.limit ?? -1,
    );
    return rows.map(toAttestation);
  });
}
