import { ServerError } from '../error.js';
import { num, str, toBlob } from './rows.js';
import { settle, type SqliteDb } from './sqlite-db.js';
import type { BlobRecord, RevokedDigestRecord, UploadRecord } from './store.js';

export function recordBlob(db: SqliteDb, blob: BlobRecord): Promise<void> {
  return settle(() => {
    db.run(
      `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      blob.sha256,
      blob.sha512,
      blob.length,
      new Date().toISOString(),
    );
  });
}

export function blobBySha256(db: SqliteDb, sha256: string): Promise<BlobRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM blobs WHERE sha256 = ?', sha256);
    return row ? toBlob(row) : undefined;
  });
}

export function blobBySha512(db: SqliteDb, sha512: string): Promise<BlobRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM blobs WHERE sha512 = ?', sha512);
    return row ? toBlob(row) : undefined;
  });
}

export function putUpload(db: SqliteDb, upload: UploadRecord): Promise<void> {
  return settle(() =>
    db.transaction(() => {
      const revoked = db.get(
        'SELECT release_id FROM revoked_digests WHERE sha256 = ?',
        upload.sha256,
      );
      if (revoked) {
        throw new ServerError(
          'TARGET_REVOKED',
          `these bytes (sha256 ${upload.sha256}) were revoked with release ${num(revoked.release_id)}`,
        );
      }
      db.run(
        `INSERT INTO blobs (sha256, sha512, length, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        upload.sha256,
        upload.sha512,
        upload.length,
        upload.uploadedAt,
      );
      db.run(
        `INSERT INTO uploads (name, sha256, uploaded_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at`,
        upload.name,
        upload.sha256,
        upload.uploadedAt,
      );
    }),
  );
}

export function upload(db: SqliteDb, name: string): Promise<UploadRecord | undefined> {
  return settle(() => {
    const row = db.get(
      'SELECT u.name, u.uploaded_at, b.* FROM uploads u JOIN blobs b ON b.sha256 = u.sha256 WHERE u.name = ?',
      name,
    );
    return row
      ? { ...toBlob(row), name: str(row.name), uploadedAt: str(row.uploaded_at) }
      : undefined;
  });
}

export function recordRevokedDigests(db: SqliteDb, records: RevokedDigestRecord[]): Promise<void> {
  return settle(() => {
    db.transaction(() => {
      for (const r of records) {
        db.run(
          'INSERT INTO revoked_digests (sha256, release_id, revoked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
          r.sha256,
          r.releaseId,
          r.revokedAt,
        );
      }
    });
  });
}

export function revokedDigest(
  db: SqliteDb,
  sha256: string,
): Promise<RevokedDigestRecord | undefined> {
  return settle(() => {
    const row = db.get('SELECT * FROM revoked_digests WHERE sha256 = ?', sha256);
    return row
      ? {
          sha256: str(row.sha256),
          releaseId: num(row.release_id),
          revokedAt: str(row.revoked_at),
        }
      : undefined;
  });
}
