import { GroupCommit } from '@tufchain/transparency';
import type pg from 'pg';
import type { QueryResultRow } from 'pg';
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

type AttestationInput = Omit<AttestationRecord, 'id' | 'logIndex' | 'reportSha256' | 'counter'> & {
  reportSha256: string;
  counter: number;
};
type InsertedAttestation = {
  id: number;
  created: boolean;
  logIndex: number | null;
  bundleJson: string;
};

/** The advisory lock under which reports of one ECU are checked and stored (migration 6). */
const reportLock = (input: AttestationInput): string =>
  `tufchain:report:${input.vinCommitment}\n${input.ecuSerial}`;

/** What tufchain_insert_attestation answered for `input`. */
function inserted(input: AttestationInput, row: QueryResultRow | undefined): InsertedAttestation {
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
}

export async function insertAttestation(
  pool: pg.Pool,
  input: AttestationInput,
): Promise<InsertedAttestation> {
  const attempt = async () =>
    inserted(
      input,
      await queryRow(
        pool,
        'SELECT * FROM tufchain_insert_attestation($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
        [reportLock(input), ...attestationValues(input)],
      ),
    );
  try {
    return await attempt();
  } catch (error) {
    // The same bundle under another ECU key (a different lock) got in first: answer with it.
    if (isUniqueViolation(error)) return attempt();
    throw error;
  }
}

type Settled = { ok: InsertedAttestation } | { error: unknown };

const settle = (p: Promise<InsertedAttestation>): Promise<Settled> =>
  p.then(
    (ok) => ({ ok }),
    (error: unknown) => ({ error }),
  );

/** Each report alone, those of one ECU in their order of arrival, other ECUs' meanwhile. */
async function oneByOne(pool: pg.Pool, batch: readonly AttestationInput[]): Promise<Settled[]> {
  const byEcu = new Map<string, number[]>();
  batch.forEach((input, i) => {
    const lock = reportLock(input);
    byEcu.set(lock, [...(byEcu.get(lock) ?? []), i]);
  });
  const settled: Settled[] = [];
  await Promise.all(
    [...byEcu.values()].map(async (indexes) => {
      for (const i of indexes) settled[i] = await settle(insertAttestation(pool, batch[i]!));
    }),
  );
  return settled;
}

/**
 * insertAttestation for reports that arrive together: one statement (one transaction, one WAL
 * flush) stores a batch, each row through tufchain_insert_attestation as before. Rows go in the
 * order of their ECU locks, so two replicas' batches take shared locks in the same order and
 * cannot deadlock; reports of one ECU keep their order of arrival. A batch that fails (say a
 * bundle sent under two ECU keys at once) stored nothing, and its reports are retried one by one,
 * in that order too.
 */
export function attestationWriter(pool: pg.Pool): GroupCommit<AttestationInput, Settled> {
  return new GroupCommit<AttestationInput, Settled>(async (batch) => {
    if (batch.length === 1) return [await settle(insertAttestation(pool, batch[0]!))];
    const order = batch
      .map((input, i) => ({ input, i, lock: reportLock(input) }))
      .sort((a, b) => (a.lock < b.lock ? -1 : a.lock > b.lock ? 1 : a.i - b.i));
    let rows: QueryResultRow[];
    try {
      rows = await queryRows(
        pool,
        `SELECT x.i, r.* FROM json_to_recordset($1::json) AS x(i int, lock_key text,
           report_sha256 text, counter bigint, bundle_sha256 text, bundle_json text,
           vin_commitment text, ecu_serial text, target_name text, result text, received_at text)
         CROSS JOIN LATERAL tufchain_insert_attestation(x.lock_key, x.report_sha256, x.counter,
           x.bundle_sha256, x.bundle_json, x.vin_commitment, x.ecu_serial, x.target_name, x.result,
           x.received_at) AS r`,
        [
          JSON.stringify(
            order.map(({ input, i, lock }) => ({
              i,
              lock_key: lock,
              report_sha256: input.reportSha256,
              counter: input.counter,
              bundle_sha256: input.bundleSha256,
              bundle_json: input.bundleJson,
              vin_commitment: input.vinCommitment,
              ecu_serial: input.ecuSerial,
              target_name: input.targetName,
              result: input.result,
              received_at: input.receivedAt,
            })),
          ),
        ],
      );
    } catch {
      return oneByOne(pool, batch);
    }
    const byIndex = new Map(rows.map((row) => [num(row.i), row]));
    return batch.map((input, i): Settled => {
      try {
        return { ok: inserted(input, byIndex.get(i)) };
      } catch (error) {
        return { error };
      }
    });
  });
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
