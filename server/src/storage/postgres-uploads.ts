import type pg from 'pg';
import { ServerError } from '../error.js';
import { inTransaction, queryRow, type Queryable } from './postgres-db.js';
import { num, str, toBlob } from './rows.js';
import type { BlobRecord, RevokedDigestRecord, UploadRecord } from './store.js';

/** Takes a lock on `key` until the transaction ends (the key's 64-bit hash). */
async function lockKey(tx: Queryable, key: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
}

export async function recordBlob(pool: pg.Pool, blob: BlobRecord): Promise<void> {
  await pool.query(
    `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [blob.sha256, blob.sha512, blob.length, new Date().toISOString()],
  );
}

export async function blobBySha256(pool: pg.Pool, sha256: string): Promise<BlobRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM blobs WHERE sha256 = $1', [sha256]);
  return row ? toBlob(row) : undefined;
}

export async function blobBySha512(pool: pg.Pool, sha512: string): Promise<BlobRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM blobs WHERE sha512 = $1', [sha512]);
  return row ? toBlob(row) : undefined;
}

export async function putUpload(pool: pg.Pool, upload: UploadRecord): Promise<void> {
  await inTransaction(pool, async (tx) => {
    // The same lock as recordRevokedDigests: a revocation and an upload of these bytes do not
    // interleave between the check and the insert.
    await lockKey(tx, `tufchain:digest:${upload.sha256}`);
    const revoked = await queryRow(tx, 'SELECT release_id FROM revoked_digests WHERE sha256 = $1', [
      upload.sha256,
    ]);
    if (revoked) {
      throw new ServerError(
        'TARGET_REVOKED',
        `these bytes (sha256 ${upload.sha256}) were revoked with release ${num(revoked.release_id)}`,
      );
    }
    await tx.query(
      `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [upload.sha256, upload.sha512, upload.length, upload.uploadedAt],
    );
    await tx.query(
      `INSERT INTO uploads (name, sha256, uploaded_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at`,
      [upload.name, upload.sha256, upload.uploadedAt],
    );
  });
}

export async function upload(pool: pg.Pool, name: string): Promise<UploadRecord | undefined> {
  const row = await queryRow(
    pool,
    'SELECT u.name, u.uploaded_at, b.* FROM uploads u JOIN blobs b ON b.sha256 = u.sha256 WHERE u.name = $1',
    [name],
  );
  return row
    ? { ...toBlob(row), name: str(row.name), uploadedAt: str(row.uploaded_at) }
    : undefined;
}

export async function recordRevokedDigests(
  pool: pg.Pool,
  records: RevokedDigestRecord[],
): Promise<void> {
  await inTransaction(pool, async (tx) => {
    for (const r of records) {
      await lockKey(tx, `tufchain:digest:${r.sha256}`);
      await tx.query(
        'INSERT INTO revoked_digests (sha256, release_id, revoked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [r.sha256, r.releaseId, r.revokedAt],
      );
    }
  });
}

export async function revokedDigest(
  pool: pg.Pool,
  sha256: string,
): Promise<RevokedDigestRecord | undefined> {
  const row = await queryRow(pool, 'SELECT * FROM revoked_digests WHERE sha256 = $1', [sha256]);
  return row
    ? { sha256: str(row.sha256), releaseId: num(row.release_id), revokedAt: str(row.revoked_at) }
    : undefined;
}
