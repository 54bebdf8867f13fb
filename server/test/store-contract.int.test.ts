/**
 * The RepositoryStore contract, run against every engine: SQLite (a file in a temp dir) and
 * PostgreSQL (a real cluster on loopback, one database per test). A case here is what callers
 * rely on; an engine that breaks one is wrong, whatever its own tests say.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openRepository } from '../src/storage/open.js';
import { postgresMigrations } from '../src/storage/postgres-migrations.js';
import { PostgresStore } from '../src/storage/postgres-store.js';
import { SqliteStore } from '../src/storage/sqlite-store.js';
import type {
  NewMetadataRecord,
  RepositoryStore,
  TokenRecord,
  UploadRecord,
} from '../src/storage/store.js';
import type { VehicleCertificateRecord } from '../src/storage/vehicle-store.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

interface Engine {
  name: 'sqlite' | 'postgres';
  /** Where a new, empty store lives: a file path or a database URL. */
  newLocation(): Promise<string>;
  open(location: string): Promise<RepositoryStore>;
}

let cluster: TestPostgres;
const dirs: string[] = [];

const engines: Engine[] = [
  {
    name: 'sqlite',
    async newLocation() {
      const dir = await mkdtemp(join(tmpdir(), 'tufchain-store-contract-'));
      dirs.push(dir);
      return join(dir, 'tufchain.sqlite');
    },
    open: (path) => Promise.resolve(new SqliteStore(path)),
  },
  {
    name: 'postgres',
    newLocation: () => cluster.createDatabase(),
    open: (url) => PostgresStore.open({ connectionString: url }),
  },
];

beforeAll(async () => {
  cluster = await startTestPostgres();
});
afterAll(async () => {
  await cluster.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const sha = (c: string): string => c.repeat(64);
const meta = (role: string, version: number, fill = version): NewMetadataRecord => ({
  role,
  version,
  // 0x00 and 0xff survive the round trip (bytea / BLOB, not text).
  bytes: new Uint8Array([0, fill, 0xff, 0x7b]),
  sha256: sha((version % 10).toString()),
  expires: '2030-01-01T00:00:00Z',
});
const token = (id: string, createdAt: string, over: Partial<TokenRecord> = {}): TokenRecord => ({
  id,
  name: `token ${id}`,
  secretSha256: sha('a'),
  scopes: ['publish', 'revoke'],
  createdAt,
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: null,
  ...over,
});
const upload = (name: string, c: string, over: Partial<UploadRecord> = {}): UploadRecord => ({
  name,
  sha256: sha(c),
  sha512: sha(c).repeat(2),
  length: 1024,
  uploadedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});
const certificate = (
  serialNumber: string,
  over: Partial<VehicleCertificateRecord> = {},
): VehicleCertificateRecord => ({
  serialNumber,
  vinCommitment: sha('c'),
  ecuSerial: 'GW-1',
  publicKeySha256: sha('d'),
  certificatePem: `-----BEGIN CERTIFICATE-----\n${serialNumber}\n-----END CERTIFICATE-----\n`,
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2027-01-01T00:00:00.000Z',
  issuedAt: '2026-01-01T00:00:00.000Z',
  enrolledBy: 'token:factory',
  previousSerialNumber: null,
  revokedAt: null,
  revocationReason: null,
  ...over,
});
const report = (n: number, counter = n, ecuSerial = 'GW-1') => ({
  reportSha256: sha('r') + n.toString(),
  counter,
  bundleSha256: sha('b') + n.toString(),
  bundleJson: JSON.stringify({ report: n }),
  vinCommitment: sha('c'),
  ecuSerial,
  targetName: 'gw.img',
  result: 'SUCCESS',
  receivedAt: '2026-01-01T00:00:00.000Z',
});
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(engines)('RepositoryStore on $name', (engine) => {
  const opened: RepositoryStore[] = [];
  const openStore = async (): Promise<RepositoryStore> => {
    const store = await engine.open(await engine.newLocation());
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  describe('metadata', () => {
    it('answers undefined, 0 and [] for a role never stored', async () => {
      const store = await openStore();
      expect(await store.currentMetadata('root')).toBeUndefined();
      expect(await store.currentMetadataDigest('root')).toBeUndefined();
      expect(await store.publishedMetadata('root', 1)).toBeUndefined();
      expect(await store.publishedVersions('root')).toEqual([]);
      expect(await store.maxVersion('root')).toBe(0);
      expect(await store.metadataBatch('root', 1)).toBeUndefined();
      expect(await store.stagedBatches()).toEqual([]);
    });

    it('keeps staged versions invisible to vehicles but counts them in maxVersion', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('targets', 3)], 'release:1');
      expect(await store.publishedMetadata('targets', 3)).toBeUndefined();
      expect(await store.currentMetadata('targets')).toBeUndefined();
      expect(await store.maxVersion('targets')).toBe(3);
      expect(await store.metadataBatch('targets', 3)).toBe('release:1');
    });

    it('groups staged records by batch, oldest batch first, then by role and version', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('targets', 2), meta('snapshot', 2)], 'release:1');
      await pause(5); // created_at has millisecond resolution
      await store.stageMetadata([meta('targets', 3)]);
      const batches = await store.stagedBatches();
      expect(batches.map((b) => b.batch)).toEqual(['release:1', 'unnamed']);
      expect(batches[0]?.records.map((r) => [r.role, r.version, r.state])).toEqual([
        ['snapshot', 2, 'staged'],
        ['targets', 2, 'staged'],
      ]);
    });

    it('refuses a role+version stored before and stages none of that batch', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('targets', 1)]);
      await expect(
        store.stageMetadata([meta('snapshot', 1), meta('targets', 1, 9)], 'dup'),
      ).rejects.toMatchObject({ code: 'METADATA_VERSION_TAKEN' });
      expect(await store.maxVersion('snapshot')).toBe(0);
      expect((await store.stagedBatches()).map((b) => b.batch)).toEqual(['unnamed']);
    });

    it('refuses a version below 1 and a role name longer than 64 characters', async () => {
      const store = await openStore();
      await expect(store.stageMetadata([meta('targets', 0)])).rejects.toThrow();
      await expect(store.stageMetadata([meta('r'.repeat(65), 1)])).rejects.toThrow();
      expect(await store.stagedBatches()).toEqual([]);
    });

    it('publishes staged records and moves each current pointer in one commit', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('targets', 2), meta('snapshot', 1)]);
      await store.stageMetadata([meta('targets', 1)]);
      await store.commitMetadata([
        { role: 'targets', version: 1 },
        { role: 'targets', version: 2 },
        { role: 'snapshot', version: 1 },
      ]);
      const current = await store.currentMetadata('targets');
      expect(current).toMatchObject({ role: 'targets', version: 2, state: 'published' });
      expect([...(current?.bytes ?? [])]).toEqual([0, 2, 0xff, 0x7b]);
      expect(await store.currentMetadataDigest('targets')).toEqual({
        version: 2,
        sha256: sha('2'),
        expires: '2030-01-01T00:00:00Z',
      });
      expect(await store.publishedVersions('targets')).toEqual([1, 2]);
      expect((await store.publishedMetadata('targets', 1))?.version).toBe(1);
      expect(await store.stagedBatches()).toEqual([]);
    });

    it('reads the digest of every current role at once, as it reads each alone', async () => {
      const store = await openStore();
      expect(await store.currentMetadataDigests()).toEqual(new Map());
      await store.stageMetadata([meta('targets', 1), meta('snapshot', 1), meta('bins-0a', 1)]);
      await store.commitMetadata([
        { role: 'targets', version: 1 },
        { role: 'snapshot', version: 1 },
        { role: 'bins-0a', version: 1 },
      ]);
      // A later version staged but not committed is not current.
      await store.stageMetadata([meta('targets', 2)]);
      const all = await store.currentMetadataDigests();
      expect([...all.keys()].sort()).toEqual(['bins-0a', 'snapshot', 'targets']);
      for (const role of ['targets', 'snapshot', 'bins-0a']) {
        expect(all.get(role)).toEqual(await store.currentMetadataDigest(role));
      }
      expect(all.get('targets')?.version).toBe(1);
    });

    it('applies the release patch in the same transaction as the commit', async () => {
      const store = await openStore();
      const release = await store.createRelease({ targetNames: ['a.img'], targetsVersion: 2 });
      await store.stageMetadata([meta('targets', 2)]);
      await store.commitMetadata([{ role: 'targets', version: 2 }], {
        id: release.id,
        patch: { status: 'confirmed', metadataHash: sha('e') },
      });
      expect(await store.release(release.id)).toMatchObject({
        status: 'confirmed',
        metadataHash: sha('e'),
      });
    });

    it('rolls a commit back whole (records, pointers, release) when one record is not staged', async () => {
      const store = await openStore();
      const release = await store.createRelease({ targetNames: ['a.img'], targetsVersion: 1 });
      await store.stageMetadata([meta('targets', 1), meta('snapshot', 1)]);
      await expect(
        store.commitMetadata(
          [
            { role: 'targets', version: 1 },
            { role: 'snapshot', version: 7 },
          ],
          { id: release.id, patch: { status: 'confirmed' } },
        ),
      ).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
      expect(await store.currentMetadata('targets')).toBeUndefined();
      expect(await store.publishedVersions('targets')).toEqual([]);
      expect((await store.release(release.id))?.status).toBe('pending');
      expect((await store.stagedBatches())[0]?.records).toHaveLength(2);
    });

    it('refuses to commit a version twice (STORAGE_FAILED)', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('root', 1)]);
      await store.commitMetadata([{ role: 'root', version: 1 }]);
      await expect(store.commitMetadata([{ role: 'root', version: 1 }])).rejects.toMatchObject({
        code: 'STORAGE_FAILED',
      });
    });

    it('abandons staged versions only: a published one stays published', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('targets', 1)]);
      await store.commitMetadata([{ role: 'targets', version: 1 }]);
      await store.stageMetadata([meta('targets', 2)], 'release:2');
      await store.abandonMetadata([
        { role: 'targets', version: 1 },
        { role: 'targets', version: 2 },
      ]);
      expect(await store.stagedBatches()).toEqual([]);
      expect(await store.publishedVersions('targets')).toEqual([1]);
      expect(await store.maxVersion('targets')).toBe(2);
      await expect(store.commitMetadata([{ role: 'targets', version: 2 }])).rejects.toMatchObject({
        code: 'STORAGE_FAILED',
      });
    });

    it('discards a failed bootstrap, and refuses to once something is published', async () => {
      const store = await openStore();
      await store.stageMetadata([meta('root', 1), meta('targets', 1)]);
      await store.abandonMetadata([{ role: 'targets', version: 1 }]);
      await store.discardFailedBootstrap();
      expect(await store.maxVersion('root')).toBe(0);
      expect(await store.maxVersion('targets')).toBe(0);

      await store.stageMetadata([meta('root', 1)]);
      await store.commitMetadata([{ role: 'root', version: 1 }]);
      await store.stageMetadata([meta('targets', 1)]);
      await expect(store.discardFailedBootstrap()).rejects.toMatchObject({
        code: 'REPOSITORY_ALREADY_INITIALIZED',
      });
      expect(await store.maxVersion('targets')).toBe(1);
    });
  });

  describe('blobs and uploads', () => {
    it('records a blob once, finds it by either digest, and keeps lengths above 4 GiB exact', async () => {
      const store = await openStore();
      const blob = { sha256: sha('1'), sha512: sha('2').repeat(2), length: 5 * 2 ** 30 + 3 };
      await store.recordBlob(blob);
      await store.recordBlob(blob);
      expect(await store.blobBySha256(blob.sha256)).toEqual(blob);
      expect(await store.blobBySha512(blob.sha512)).toEqual(blob);
      expect(await store.blobBySha256(sha('9'))).toBeUndefined();
      expect(await store.blobBySha512(sha('9'))).toBeUndefined();
    });

    it('names uploaded bytes and moves a name to new bytes', async () => {
      const store = await openStore();
      expect(await store.upload('gw.img')).toBeUndefined();
      await store.putUpload(upload('gw.img', '1'));
      await store.putUpload(
        upload('gw.img', '2', { length: 7, uploadedAt: '2026-02-01T00:00:00.000Z' }),
      );
      expect(await store.upload('gw.img')).toEqual(
        upload('gw.img', '2', { length: 7, uploadedAt: '2026-02-01T00:00:00.000Z' }),
      );
      expect(await store.blobBySha256(sha('1'))).toMatchObject({ length: 1024 });
    });

    it('refuses bytes whose release was revoked (TARGET_REVOKED) and keeps the name where it was', async () => {
      const store = await openStore();
      const release = await store.createRelease({ targetNames: ['gw.img'], targetsVersion: 2 });
      await store.putUpload(upload('gw.img', '1'));
      await store.recordRevokedDigests([
        { sha256: sha('2'), releaseId: release.id, revokedAt: '2026-03-01T00:00:00.000Z' },
      ]);
      await expect(store.putUpload(upload('gw.img', '2'))).rejects.toMatchObject({
        code: 'TARGET_REVOKED',
      });
      expect((await store.upload('gw.img'))?.sha256).toBe(sha('1'));
      expect(await store.blobBySha256(sha('2'))).toBeUndefined();
    });

    it('records revoked digests idempotently: the first revocation of a digest stays', async () => {
      const store = await openStore();
      const first = await store.createRelease({ targetNames: ['a'], targetsVersion: 2 });
      const second = await store.createRelease({ targetNames: ['a'], targetsVersion: 3 });
      const revoked = { sha256: sha('1'), releaseId: first.id, revokedAt: '2026-03-01T00:00:00Z' };
      await store.recordRevokedDigests([revoked, revoked]);
      await store.recordRevokedDigests([
        { sha256: sha('1'), releaseId: second.id, revokedAt: '2026-04-01T00:00:00Z' },
      ]);
      expect(await store.revokedDigest(sha('1'))).toEqual(revoked);
      expect(await store.revokedDigest(sha('2'))).toBeUndefined();
    });

    it('refuses a revoked digest of a release that does not exist', async () => {
      const store = await openStore();
      await expect(
        store.recordRevokedDigests([{ sha256: sha('1'), releaseId: 42, revokedAt: 'x' }]),
      ).rejects.toThrow();
      expect(await store.revokedDigest(sha('1'))).toBeUndefined();
    });
  });

  describe('releases', () => {
    it('creates pending releases with increasing ids and lists them in id order', async () => {
      const store = await openStore();
      const a = await store.createRelease({ targetNames: ['a.img', 'b.img'], targetsVersion: 2 });
      const b = await store.createRelease({ targetNames: [], targetsVersion: 3 });
      expect(b.id).toBeGreaterThan(a.id);
      expect(a).toMatchObject({
        status: 'pending',
        targetNames: ['a.img', 'b.img'],
        targetsVersion: 2,
        metadataHash: null,
        chain: null,
        revocation: null,
        error: null,
      });
      expect(await store.release(a.id)).toEqual(a);
      expect((await store.releases()).map((r) => r.id)).toEqual([a.id, b.id]);
      expect(await store.release(b.id + 100)).toBeUndefined();
    });

    it('patches only the fields given, and null clears a field', async () => {
      const store = await openStore();
      const created = await store.createRelease({ targetNames: ['a.img'], targetsVersion: 2 });
      const chain = { txHash: `0x${sha('f')}`, blockNumber: 12, blockHash: `0x${sha('e')}` };
      await pause(2);
      await store.updateRelease(created.id, { status: 'logged', chain, error: 'slow RPC' });
      await store.updateRelease(created.id, { error: null, targetsVersion: 4 });
      const revocation = { targetsVersion: 5, metadataHash: sha('9'), chain: null };
      await store.updateRelease(created.id, { status: 'revoked', revocation });
      const updated = await store.release(created.id);
      expect(updated).toMatchObject({
        status: 'revoked',
        chain,
        error: null,
        targetsVersion: 4,
        revocation,
        createdAt: created.createdAt,
      });
      expect(updated?.updatedAt).not.toBe(created.updatedAt);
    });

    it('refuses a status outside the lifecycle', async () => {
      const store = await openStore();
      const created = await store.createRelease({ targetNames: [], targetsVersion: 2 });
      await expect(
        store.updateRelease(created.id, { status: 'shipped' as 'confirmed' }),
      ).rejects.toThrow();
      expect((await store.release(created.id))?.status).toBe('pending');
    });
  });

  describe('idempotency keys', () => {
    const record = (key: string, createdAt: string) => ({
      key,
      route: 'POST /api/v1/releases',
      requestSha256: sha('1'),
      status: 202,
      responseJson: '{"id":1}',
      createdAt,
    });

    it('stores a key once: a second save of the same key fails and the first answer stays', async () => {
      const store = await openStore();
      expect(await store.idempotency('k1')).toBeUndefined();
      await store.saveIdempotency(record('k1', '2026-01-01T00:00:00.000Z'));
      await expect(
        store.saveIdempotency({ ...record('k1', '2026-01-02T00:00:00.000Z'), status: 500 }),
      ).rejects.toThrow();
      expect(await store.idempotency('k1')).toEqual(record('k1', '2026-01-01T00:00:00.000Z'));
    });

    it('deletes keys created strictly before the cut-off', async () => {
      const store = await openStore();
      await store.saveIdempotency(record('old', '2026-01-01T00:00:00.000Z'));
      await store.saveIdempotency(record('edge', '2026-01-02T00:00:00.000Z'));
      await store.saveIdempotency(record('new', '2026-01-03T00:00:00.000Z'));
      await store.deleteIdempotencyBefore('2026-01-02T00:00:00.000Z');
      expect(await store.idempotency('old')).toBeUndefined();
      expect(await store.idempotency('edge')).toBeDefined();
      expect(await store.idempotency('new')).toBeDefined();
    });
  });

  describe('API tokens', () => {
    it('stores tokens, refuses a second token with the same id, and lists them oldest first', async () => {
      const store = await openStore();
      const b = token('b', '2026-01-01T00:00:00.000Z', { expiresAt: '2026-06-01T00:00:00.000Z' });
      const a = token('a', '2026-01-01T00:00:00.000Z');
      const old = token('z', '2025-12-31T00:00:00.000Z', { scopes: ['admin'] });
      await store.insertToken(b);
      await store.insertToken(a);
      await store.insertToken(old);
      await expect(store.insertToken(token('a', '2026-02-01T00:00:00.000Z'))).rejects.toThrow();
      expect(await store.tokens()).toEqual([old, a, b]);
      expect(await store.token('b')).toEqual(b);
      expect(await store.token('nope')).toBeUndefined();
    });

    it('revokes a token once: REVOKED, then ALREADY_REVOKED with the first time kept, NOT_FOUND', async () => {
      const store = await openStore();
      await store.insertToken(token('t', '2026-01-01T00:00:00.000Z'));
      expect(await store.revokeToken('t', '2026-02-01T00:00:00.000Z')).toBe('REVOKED');
      expect(await store.revokeToken('t', '2026-03-01T00:00:00.000Z')).toBe('ALREADY_REVOKED');
      expect((await store.token('t'))?.revokedAt).toBe('2026-02-01T00:00:00.000Z');
      expect(await store.revokeToken('nope', '2026-02-01T00:00:00.000Z')).toBe('NOT_FOUND');
    });

    it('answers ALREADY_REVOKED for a token stored revoked', async () => {
      const store = await openStore();
      const revoked = token('t', '2026-01-01T00:00:00.000Z', {
        revokedAt: '2026-01-05T00:00:00.000Z',
      });
      await store.insertToken(revoked);
      expect(await store.token('t')).toEqual(revoked);
      expect(await store.revokeToken('t', '2026-02-01T00:00:00.000Z')).toBe('ALREADY_REVOKED');
    });

    it('records a use only when the stored one is at least the interval old', async () => {
      const store = await openStore();
      await store.insertToken(token('t', '2026-01-01T00:00:00.000Z'));
      const minute = 60_000;
      await store.touchToken('t', '2026-01-01T10:00:00.000Z', minute);
      expect((await store.token('t'))?.lastUsedAt).toBe('2026-01-01T10:00:00.000Z');
      await store.touchToken('t', '2026-01-01T10:00:59.999Z', minute);
      expect((await store.token('t'))?.lastUsedAt).toBe('2026-01-01T10:00:00.000Z');
      await store.touchToken('t', '2026-01-01T10:01:00.000Z', minute);
      expect((await store.token('t'))?.lastUsedAt).toBe('2026-01-01T10:01:00.000Z');
      await store.touchToken('nope', '2026-01-01T10:01:00.000Z', minute);
      expect(await store.token('nope')).toBeUndefined();
    });
  });

  describe('install attestations', () => {
    it('stores a report once: the same report or the same bundle is answered as stored', async () => {
      const store = await openStore();
      const first = await store.insertAttestation(report(1));
      expect(first).toMatchObject({ created: true, logIndex: null });
      await store.setAttestationLogIndex(first.id, 17);
      const sameReport = await store.insertAttestation({
        ...report(1),
        bundleSha256: sha('x'),
        bundleJson: '{"other":"encoding"}',
      });
      expect(sameReport).toEqual({
        id: first.id,
        created: false,
        logIndex: 17,
        bundleJson: report(1).bundleJson,
      });
      const sameBundle = await store.insertAttestation({
        ...report(2),
        bundleSha256: sha('b') + '1',
      });
      expect(sameBundle).toMatchObject({ id: first.id, created: false });
      expect(await store.attestations()).toHaveLength(1);
    });

    it('records the log index of each of many reports set at once', async () => {
      const store = await openStore();
      const rows = [];
      for (let n = 1; n <= 20; n++) rows.push(await store.insertAttestation(report(n)));
      await Promise.all(rows.map((r, i) => store.setAttestationLogIndex(r.id, 100 + i)));
      expect((await store.attestations()).map((a) => a.logIndex)).toEqual(
        rows.map((_, i) => 100 + i),
      );
    });

    it('refuses a counter at or below the ECU last one (REPORT_COUNTER_REPLAYED); other ECUs count apart', async () => {
      const store = await openStore();
      await store.insertAttestation(report(1, 5));
      await expect(store.insertAttestation(report(2, 5))).rejects.toMatchObject({
        code: 'REPORT_COUNTER_REPLAYED',
      });
      await expect(store.insertAttestation(report(3, 4))).rejects.toMatchObject({
        code: 'REPORT_COUNTER_REPLAYED',
      });
      expect((await store.insertAttestation(report(4, 1, 'ECU-2'))).created).toBe(true);
      expect((await store.insertAttestation(report(5, 6))).created).toBe(true);
      expect((await store.attestations()).map((a) => a.counter)).toEqual([5, 1, 6]);
    });

    it('stores one row when the same report arrives many times at once', async () => {
      const store = await openStore();
      await Promise.all(Array.from({ length: 8 }, () => store.ping()));
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => store.insertAttestation(report(1))),
      );
      expect(answers.filter((a) => a.created)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.id)).size).toBe(1);
      expect(await store.attestations()).toHaveLength(1);
    });

    it('keeps counters increasing when reports of one ECU arrive at once', async () => {
      const store = await openStore();
      // Open connections first, so that the eight transactions below really overlap.
      await Promise.all(Array.from({ length: 8 }, () => store.ping()));
      const settled = await Promise.allSettled(
        // Highest counter first: a store that checks without holding the ECU stores them all.
        Array.from({ length: 8 }, (_, i) => store.insertAttestation(report(8 - i))),
      );
      for (const s of settled) {
        if (s.status === 'rejected')
          expect(s.reason).toMatchObject({ code: 'REPORT_COUNTER_REPLAYED' });
      }
      const counters = (await store.attestations()).map((a) => a.counter ?? -1);
      expect(counters.length).toBe(settled.filter((s) => s.status === 'fulfilled').length);
      expect(counters).toEqual([...counters].sort((x, y) => x - y));
      expect(new Set(counters).size).toBe(counters.length);
    });

    it('answers each report of a burst as if it had come alone', async () => {
      const store = await openStore();
      const stored = await store.insertAttestation(report(1, 10));
      await Promise.all(Array.from({ length: 8 }, () => store.ping()));
      // Arrive together: PostgreSQL stores them in one statement (postgres-reports.ts).
      const settled = await Promise.allSettled([
        store.insertAttestation(report(2, 1, 'ECU-A')),
        store.insertAttestation(report(3, 9)), // below GW-1's counter 10
        store.insertAttestation(report(4, 1, 'ECU-B')),
        store.insertAttestation({ ...report(1, 10), reportSha256: sha('z') }), // stored bundle
        store.insertAttestation(report(5, 11)),
        store.insertAttestation(report(6, 2, 'ECU-A')),
        store.insertAttestation(report(7, 1, 'ECU-C')),
      ]);
      const answer = (i: number) => {
        const s = settled[i]!;
        return s.status === 'fulfilled'
          ? { created: s.value.created, id: s.value.id }
          : (s.reason as { code?: string }).code;
      };
      expect(answer(1)).toBe('REPORT_COUNTER_REPLAYED');
      expect(answer(3)).toEqual({ created: false, id: stored.id });
      for (const i of [0, 2, 4, 5, 6]) expect(answer(i)).toMatchObject({ created: true });
      const rows = await store.attestations();
      const byReport = new Map(rows.map((r) => [r.reportSha256, r]));
      for (const [i, n] of [
        [0, 2],
        [2, 4],
        [4, 5],
        [5, 6],
        [6, 7],
      ] as const) {
        expect(byReport.get(report(n).reportSha256)?.id).toBe(
          (settled[i] as { value: { id: number } }).value.id,
        );
      }
      expect(rows.map((r) => r.reportSha256).sort()).toEqual(
        [1, 2, 4, 5, 6, 7].map((n) => report(n).reportSha256).sort(),
      );
    });

    it('stores one row when a burst holds the same bundle under two ECUs', async () => {
      const store = await openStore();
      await Promise.all(Array.from({ length: 4 }, () => store.ping()));
      await store.insertAttestation(report(9, 1, 'ECU-Z'));
      const answers = await Promise.all([
        store.insertAttestation(report(1, 1, 'ECU-X')),
        store.insertAttestation({ ...report(1, 1, 'ECU-Y'), reportSha256: sha('y') }),
        store.insertAttestation(report(2, 1, 'ECU-W')),
      ]);
      expect(answers.filter((a) => a.created)).toHaveLength(2);
      expect(answers[0].id).toBe(answers[1].id);
      expect(await store.attestations()).toHaveLength(3);
    });

    it('pages by id: after an id, at most a limit', async () => {
      const store = await openStore();
      const ids: number[] = [];
      for (let n = 1; n <= 5; n++) ids.push((await store.insertAttestation(report(n))).id);
      const page = await store.attestations({ afterId: ids[1] ?? 0, limit: 2 });
      expect(page.map((a) => a.id)).toEqual([ids[2], ids[3]]);
      expect(page[0]).toEqual({ ...report(3), id: ids[2], logIndex: null });
      expect((await store.attestations({ afterId: ids[4] ?? 0 })).length).toBe(0);
      expect((await store.attestations({ limit: 3 })).length).toBe(3);
    });
  });

  describe('vehicle registry', () => {
    it('stores a certificate by serial, refuses the same serial twice and an unknown predecessor', async () => {
      const store = await openStore();
      const cert = certificate('01');
      await store.insertVehicleCertificate(cert);
      expect(await store.vehicleCertificate('01')).toEqual(cert);
      expect(await store.vehicleCertificate('02')).toBeUndefined();
      await expect(store.insertVehicleCertificate(certificate('01'))).rejects.toThrow();
      await expect(
        store.insertVehicleCertificate(certificate('03', { previousSerialNumber: 'ff' })),
      ).rejects.toThrow();
      expect(await store.vehicleCertificate('03')).toBeUndefined();
    });

    it('answers lookups that arrive together each with its own record', async () => {
      const store = await openStore();
      for (const serial of ['11', '12', '13'])
        await store.insertVehicleCertificate(certificate(serial));
      await Promise.all(Array.from({ length: 4 }, () => store.ping()));
      const found = await Promise.all(
        ['12', '99', '11', '12', '13'].map((serial) => store.vehicleCertificate(serial)),
      );
      expect(found.map((r) => r?.serialNumber)).toEqual(['12', undefined, '11', '12', '13']);
      expect(found[4]).toEqual(certificate('13'));
    });

    it('lists successors newest first (insertion order breaks ties) and certificates of a key oldest first', async () => {
      const store = await openStore();
      await store.insertVehicleCertificate(certificate('01'));
      const renewal = (serial: string, issuedAt: string) =>
        certificate(serial, { previousSerialNumber: '01', issuedAt, publicKeySha256: sha('e') });
      await store.insertVehicleCertificate(renewal('0b', '2026-02-01T00:00:00.000Z'));
      await store.insertVehicleCertificate(renewal('0a', '2026-03-01T00:00:00.000Z'));
      await store.insertVehicleCertificate(renewal('0c', '2026-03-01T00:00:00.000Z'));
      expect((await store.vehicleCertificateSuccessors('01')).map((c) => c.serialNumber)).toEqual([
        '0c',
        '0a',
        '0b',
      ]);
      expect(await store.vehicleCertificateSuccessors('0a')).toEqual([]);
      expect((await store.vehicleCertificatesByKey(sha('e'))).map((c) => c.serialNumber)).toEqual([
        '0b',
        '0a',
        '0c',
      ]);
      expect(await store.vehicleCertificatesByKey(sha('0'))).toEqual([]);
    });

    it('revokes a certificate once and lists revoked ones by time, then serial', async () => {
      const store = await openStore();
      for (const serial of ['01', '02', '03'])
        await store.insertVehicleCertificate(certificate(serial));
      expect(
        await store.revokeVehicleCertificate('02', '2026-05-01T00:00:00.000Z', 'keyCompromise'),
      ).toBe('REVOKED');
      expect(
        await store.revokeVehicleCertificate('02', '2026-06-01T00:00:00.000Z', 'superseded'),
      ).toBe('ALREADY_REVOKED');
      expect(
        await store.revokeVehicleCertificate('01', '2026-05-01T00:00:00.000Z', 'superseded'),
      ).toBe('REVOKED');
      expect(
        await store.revokeVehicleCertificate('ff', '2026-05-01T00:00:00.000Z', 'superseded'),
      ).toBe('NOT_FOUND');
      const revoked = await store.revokedVehicleCertificates();
      expect(revoked.map((c) => [c.serialNumber, c.revokedAt, c.revocationReason])).toEqual([
        ['01', '2026-05-01T00:00:00.000Z', 'superseded'],
        ['02', '2026-05-01T00:00:00.000Z', 'keyCompromise'],
      ]);
    });

    it('stores each CRL number once (false for a second writer) and answers the highest', async () => {
      const store = await openStore();
      expect(await store.latestVehicleCrl()).toBeUndefined();
      const crl = (crlNumber: number, pem: string) => ({
        crlNumber,
        pem,
        thisUpdate: '2026-01-01T00:00:00.000Z',
        nextUpdate: '2026-01-08T00:00:00.000Z',
      });
      expect(await store.insertVehicleCrl(crl(2, 'two'))).toBe(true);
      expect(await store.insertVehicleCrl(crl(10, 'ten'))).toBe(true);
      expect(await store.insertVehicleCrl(crl(2, 'other two'))).toBe(false);
      expect(await store.latestVehicleCrl()).toEqual(crl(10, 'ten'));
    });
  });

  describe('lifecycle', () => {
    it('answers ping while open and NOT_READY once closed; closing twice is harmless', async () => {
      const store = await openStore();
      await store.ping();
      await store.close();
      await store.close();
      await expect(store.ping()).rejects.toMatchObject({ code: 'NOT_READY' });
    });

    it('keeps what it stored when reopened (migrations run once)', async () => {
      const location = await engine.newLocation();
      const first = await engine.open(location);
      await first.stageMetadata([meta('root', 1)]);
      await first.commitMetadata([{ role: 'root', version: 1 }]);
      await first.close();
      const second = await engine.open(location);
      opened.push(second);
      expect((await second.currentMetadata('root'))?.version).toBe(1);
    });
  });
});

describe('PostgresStore', () => {
  it('migrates once when several replicas open a new database at the same time', async () => {
    const url = await cluster.createDatabase();
    const replicas = await Promise.all(
      Array.from({ length: 4 }, () => PostgresStore.open({ connectionString: url })),
    );
    try {
      await Promise.all(replicas.map((r) => r.ping()));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: number }>(
          'SELECT id FROM migrations ORDER BY id',
        );
        expect(rows.map((r) => r.id)).toEqual(postgresMigrations.map((m) => m.id));
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it('stores a burst one report at a time when another replica stores one of its bundles meanwhile', async () => {
    const url = await cluster.createDatabase();
    const store = await PostgresStore.open({ connectionString: url });
    const [other, holder] = [
      new pg.Client({ connectionString: url }),
      new pg.Client({ connectionString: url }),
    ];
    await Promise.all([other.connect(), holder.connect()]);
    const lockOf = (ecu: string) => `tufchain:report:${sha('c')}\n${ecu}`;
    try {
      await Promise.all(Array.from({ length: 4 }, () => store.ping()));
      // Another replica is storing bundle 1 under ECU-X, not yet committed.
      await other.query('BEGIN');
      await other.query(
        'SELECT * FROM tufchain_insert_attestation($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
        [lockOf('ECU-X'), ...Object.values(report(1, 1, 'ECU-X'))],
      );
      // A report of ECU-V waits on that ECU's lock, so the two after it go as one batch.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        lockOf('ECU-V'),
      ]);
      const first = store.insertAttestation(report(4, 1, 'ECU-V'));
      await pause(100);
      const burst = Promise.all([
        store.insertAttestation({ ...report(1, 1, 'ECU-Y'), reportSha256: sha('y') }),
        store.insertAttestation(report(2, 1, 'ECU-W')),
        // Reports of one ECU, retried one by one in the order they came: both are stored.
        store.insertAttestation(report(5, 1, 'ECU-Q')),
        store.insertAttestation(report(6, 2, 'ECU-Q')),
        store.insertAttestation(report(7, 3, 'ECU-Q')),
      ]);
      await holder.query('COMMIT');
      expect((await first).created).toBe(true);
      // The batch waits on bundle 1's unique index, fails when the other replica commits, and
      // its reports are stored one by one: bundle 1 is answered as stored.
      await pause(200);
      await other.query('COMMIT');
      const [same, ...fresh] = await burst;
      expect(same.created).toBe(false);
      expect(fresh.map((a) => a.created)).toEqual([true, true, true, true]);
      expect((await store.attestations()).map((a) => a.ecuSerial).sort()).toEqual([
        'ECU-Q',
        'ECU-Q',
        'ECU-Q',
        'ECU-V',
        'ECU-W',
        'ECU-X',
      ]);
    } finally {
      await Promise.all([other.end(), holder.end()]);
      await store.close();
    }
  });

  it('fails to open with STORAGE_FAILED when the database does not exist', async () => {
    const url = (await cluster.createDatabase()).replace(/\/[^/]+$/, '/missing');
    await expect(PostgresStore.open({ connectionString: url })).rejects.toMatchObject({
      code: 'STORAGE_FAILED',
    });
  });
});

describe('openRepository', () => {
  it('keeps the repository store in PostgreSQL when given a database URL', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tufchain-open-'));
    dirs.push(dataDir);
    const databaseUrl = await cluster.createDatabase();
    const repo = await openRepository({ dataDir, databaseUrl });
    try {
      await repo.store.stageMetadata([meta('root', 1)]);
      await repo.store.commitMetadata([{ role: 'root', version: 1 }]);
      expect(await repo.director.currentDirectorRoot()).toBeUndefined();
    } finally {
      await repo.close();
    }
    const direct = await PostgresStore.open({ connectionString: databaseUrl });
    try {
      expect((await direct.currentMetadata('root'))?.version).toBe(1);
    } finally {
      await direct.close();
    }
    const sqlite = new SqliteStore(join(dataDir, 'tufchain.sqlite'));
    try {
      expect(await sqlite.currentMetadata('root')).toBeUndefined();
    } finally {
      await sqlite.close();
    }
  });

  it('refuses a database URL that is not postgres:// (CONFIG_INVALID)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tufchain-open-'));
    dirs.push(dataDir);
    await expect(
      openRepository({ dataDir, databaseUrl: 'mysql://127.0.0.1/tufchain' }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
