import { GroupCommit } from '@tufchain/transparency';
import type pg from 'pg';
import { ServerError } from '../error.js';
import { isUniqueViolation, queryRow, queryRows } from './postgres-db.js';
import { attestationValues, num, str, toAttestation } from './rows.js';
import type { AttestationRecord } from './store.js';

export function logIndexWriter(pool: pg.Pool): GroupCommit<{ id: number; logIndex: number }, void> {
  return new GroupCommit<{ id: number; logIndex: number }, void>(async (batch) => {
    await pool.query(
      `UPDATE install_attestations AS a SET log_index = v.log_index
       FROM unnest($1::bigint[], $2::bigint[]) AS v(id, log_index) WHERE a.id = v.id`,
      [batch.map((b) => b.id), batch.map((b) => b.logIndex)],
    );
    return batch.map(() => undefined);
  });
}

export async function insertAttestation(
  pool: pg.Pool,
  input: Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
    reportSha256: string;
    counter: number;
  },
): Promise<{ id: number; created: boolean; logIndex: number | null; bundleJson: string }> {
  const attempt = async () => {
    // Reports of one ECU are checked and stored one at a time, across replicas (migration 6).
    const row = await queryRow(
      pool,
      'SELECT * FROM tufchain_insert_attestation($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [`tufchain:report:${input.vinCommitment}\n${input.ecuSerial}`, ...attestationValues(input)],
    );
    if (row?.o_last_counter != null) {
      throw new ServerError(
        'REPORT_COUNTER_REPLAYED',
        `ECU ${input.ecuSerial} already reported counter ${num(row.o_last_counter)}; this report has ${input.counter}`,
      );
    }
    if (row?.o_created) {
      return { id: num(row.o_id), created: true, logIndex: null, bundleJson: input.bundleJson };
    }
    return {
      id: num(row?.o_id),
      created: false,
      logIndex: row?.o_log_index == null ? null : num(row.o_log_index),
      bundleJson: str(row?.o_bundle_json),
    };
  };
  try {
    return await attempt();
  } catch (error) {
    // The same bundle under another ECU key (a different lock) got in first: answer with it.
    if (isUniqueViolation(error)) return attempt();
    throw error;
  }
}

export async function attestations(
  pool: pg.Pool,
  opts: { afterId?: number; limit?: number } = {},
): Promise<AttestationRecord[]> {
  // SQLite reads a negative LIMIT as "no limit"; PostgreSQL reads NULL that way.
  const limit = opts.limit === undefined || opts.limit < 0 ? null : opts.limit;
  const rows = await queryRows(
    pool,
    'SELECT * FROM install_attestations WHERE id > $1 ORDER BY id LIMIT $2',
    [opts.afterId ?? 0, limit],
  );
  return rows.map(toAttestation);
}
