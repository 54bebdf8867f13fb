/**
 * The DirectorStore contract, on the engine of the vitest project (testEngine()): SQLite in a temp
 * dir in `default`, a real PostgreSQL database per case in `server-postgres`. Each store is the one
 * openRepository hands the server, so that what is tested is what replicas run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { DirectorTargetsLogEntry, EcuRegistration } from '@tufchain/transparency/wire';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresDirectorStore } from '../src/director/postgres-store.js';
import type {
  AssignmentRecord,
  DirectorMetadataRecord,
  DirectorRole,
  DirectorStore,
  EcuReportRecord,
  ManifestRecord,
} from '../src/director/store.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { newTestDatabaseUrl, testEngine } from './support/database.js';

const dirs: string[] = [];
const opened: OpenedRepository[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-director-contract-'));
  dirs.push(dir);
  return dir;
}

interface TestDatabase {
  dataDir: string;
  databaseUrl: string | undefined;
  /** One more replica on this database (SQLite: the same file; PostgreSQL: the same URL). */
  open(): Promise<DirectorStore>;
  /** Runs raw SQL on the database, as an operator's console would. */
  exec(sql: string): Promise<void>;
}

async function newDatabase(): Promise<TestDatabase> {
  const dataDir = await tempDir();
  const databaseUrl = await newTestDatabaseUrl();
  return {
    dataDir,
    databaseUrl,
    async open() {
      const repo = await openRepository(
        databaseUrl === undefined ? { dataDir } : { dataDir, databaseUrl },
      );
      opened.push(repo);
      return repo.director;
    },
    async exec(sql) {
      if (databaseUrl === undefined) {
        const db = new DatabaseSync(join(dataDir, 'tufchain.sqlite'));
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
        return;
      }
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
  };
}

async function openStore(): Promise<DirectorStore> {
  return (await newDatabase()).open();
}

const sha = (c: string): string => c.repeat(64);
const VEHICLE_A = sha('a');
const VEHICLE_B = sha('b');
const CREATED = '2026-01-01T00:00:00.000Z';

const root = (version: number) => ({
  version,
  // 0x00 and 0xff survive the round trip (bytea / BLOB, not text).
  bytes: new Uint8Array([0, version, 0xff]),
  sha256: sha((version % 10).toString()),
  expires: '2030-01-01T00:00:00Z',
});

const logEntry = (vehicle: string, version: number): DirectorTargetsLogEntry => ({
  type: 'director-targets',
  vehicle,
  targetsVersion: version,
  targetsHash: sha('e'),
  correlationId: 'urn:tufchain:assignment:one',
  images: [
    { ecu: sha('f'), hardwareId: 'gw', name: 'gw-2.0.img', sha256: sha('9'), releaseCounter: 2 },
  ],
});

const md = (
  vehicle: string,
  role: DirectorRole,
  version: number,
  fill = version,
): DirectorMetadataRecord => ({
  vehicle,
  role,
  version,
  bytes: new Uint8Array([0, fill, 0xff, 0x7b]),
  sha256: sha((version % 10).toString()),
  expires: '2030-01-01T00:00:00Z',
  logEntry: role === 'targets' ? logEntry(vehicle, version) : null,
  logIndex: null,
  ecuSalt: role === 'targets' ? new Uint8Array([0xff, 0, fill]) : null,
  createdAt: CREATED,
});
const ref = (r: DirectorMetadataRecord) => ({
  vehicle: r.vehicle,
  role: r.role,
  version: r.version,
});
/** The records a vehicle's first refresh stages: targets, snapshot and timestamp v1. */
const chain = (vehicle: string, version = 1) =>
  (['targets', 'snapshot', 'timestamp'] as const).map((role) => md(vehicle, role, version));

const registration = (...serials: string[]): EcuRegistration => ({
  primary_ecu_serial: serials[0]!,
  ecus: serials.map((ecu_serial, i) => ({
    ecu_serial,
    hardware_identifier: 'gw',
    clientKey: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: sha('1') } },
    primary: i === 0,
    verification: 'full',
  })),
});
const inventory = (vehicle: string, reg = registration('GW-1')) => ({
  vehicle,
  registration: reg,
  signerSerial: '01ab',
  createdAt: CREATED,
});

const assignment = (
  vehicle: string,
  correlationId: string,
  over: Partial<AssignmentRecord> = {},
): Omit<AssignmentRecord, 'id' | 'manifestId' | 'updatedAt'> => ({
  vehicle,
  correlationId,
  atomic: true,
  status: 'active',
  images: [
    {
      ecuSerial: 'GW-1',
      hardwareId: 'gw',
      name: 'gw-2.0.img',
      length: 5_000_000_000,
      sha256: sha('9'),
      sha512: sha('9').repeat(2),
      releaseCounter: 2,
    },
  ],
  createdBy: 'token:oem',
  createdAt: CREATED,
  ...over,
});

const manifest = (vehicle: string, n: number): Omit<ManifestRecord, 'id'> => ({
  vehicle,
  manifestSha256: sha('m') + n.toString(),
  manifest: { signed: { vehicle, n }, signatures: [] },
  flags: n % 2 ? [{ ecuSerial: 'GW-1', flag: 'NONCE_REPLAYED', detail: 'again' }] : [],
  completedAssignments: [n],
  receivedAt: CREATED,
});
const report = (ecuSerial: string, counter: number, over: Partial<EcuReportRecord> = {}) => ({
  ecuSerial,
  reportCounter: counter,
  nonce: `nonce-${ecuSerial}-${counter.toString()}`,
  filepath: `${ecuSerial}-${counter.toString()}.img`,
  sha256: sha((counter % 10).toString()),
  trusted: true,
  ...over,
});

describe(`DirectorStore on ${testEngine()}`, () => {
  describe('roots', () => {
    it('answers undefined before the first root, then the highest version', async () => {
      const store = await openStore();
      expect(await store.currentDirectorRoot()).toBeUndefined();
      expect(await store.directorRoot(1)).toBeUndefined();
      await store.insertDirectorRoot(root(1), CREATED);
      await store.insertDirectorRoot(root(2), CREATED);
      expect(await store.currentDirectorRoot()).toEqual(root(2));
      expect(await store.directorRoot(1)).toEqual(root(1));
      expect(await store.directorRoot(3)).toBeUndefined();
    });

    it('refuses a root version stored before (METADATA_VERSION_TAKEN) and keeps the first', async () => {
      const store = await openStore();
      await store.insertDirectorRoot(root(1), CREATED);
      await expect(
        store.insertDirectorRoot({ ...root(1), sha256: sha('f') }, CREATED),
      ).rejects.toMatchObject({ code: 'METADATA_VERSION_TAKEN' });
      expect(await store.directorRoot(1)).toEqual(root(1));
    });

    it('refuses a root version below 1', async () => {
      const store = await openStore();
      await expect(store.insertDirectorRoot(root(0), CREATED)).rejects.toThrow();
      expect(await store.currentDirectorRoot()).toBeUndefined();
    });
  });

  describe('metadata', () => {
    it('answers 0, undefined and [] for a vehicle never refreshed', async () => {
      const store = await openStore();
      expect(await store.maxDirectorVersion(VEHICLE_A, 'targets')).toBe(0);
      expect(await store.currentDirectorMetadata(VEHICLE_A, 'targets')).toBeUndefined();
      expect(await store.publishedDirectorMetadata(VEHICLE_A, 'targets', 1)).toBeUndefined();
      expect(await store.stagedDirectorMetadata()).toEqual([]);
      expect(await store.publishedDirectorTargets()).toEqual([]);
      expect(await store.publishedDirectorTargets(VEHICLE_A)).toEqual([]);
    });

    it('keeps staged versions from vehicles but counts them in maxDirectorVersion', async () => {
      const store = await openStore();
      await store.stageDirectorMetadata(chain(VEHICLE_A, 4));
      expect(await store.maxDirectorVersion(VEHICLE_A, 'targets')).toBe(4);
      expect(await store.maxDirectorVersion(VEHICLE_A, 'snapshot')).toBe(4);
      expect(await store.maxDirectorVersion(VEHICLE_B, 'targets')).toBe(0);
      expect(await store.currentDirectorMetadata(VEHICLE_A, 'targets')).toBeUndefined();
      expect(await store.publishedDirectorMetadata(VEHICLE_A, 'timestamp', 4)).toBeUndefined();
      expect(await store.publishedDirectorTargets()).toEqual([]);
    });

    it('answers staged records oldest first, whatever their vehicles sort as', async () => {
      const store = await openStore();
      await store.stageDirectorMetadata([md(VEHICLE_B, 'timestamp', 1)]);
      await store.stageDirectorMetadata([
        md(VEHICLE_A, 'targets', 1),
        md(VEHICLE_A, 'snapshot', 1),
      ]);
      const staged = await store.stagedDirectorMetadata();
      expect(staged.map((r) => [r.vehicle, r.role])).toEqual([
        [VEHICLE_B, 'timestamp'],
        [VEHICLE_A, 'targets'],
        [VEHICLE_A, 'snapshot'],
      ]);
      expect(staged[1]).toEqual(md(VEHICLE_A, 'targets', 1));
    });

    it('publishes records together and records the log index on the targets version only', async () => {
      const store = await openStore();
      const records = chain(VEHICLE_A);
      await store.stageDirectorMetadata(records);
      await store.publishDirectorMetadata(records.map(ref), 7);
      expect(await store.stagedDirectorMetadata()).toEqual([]);
      expect(await store.currentDirectorMetadata(VEHICLE_A, 'targets')).toEqual({
        ...md(VEHICLE_A, 'targets', 1),
        logIndex: 7,
      });
      const targets = await store.currentDirectorMetadata(VEHICLE_A, 'targets');
      expect(targets?.bytes).toBeInstanceOf(Uint8Array);
      expect([...(targets?.ecuSalt ?? [])]).toEqual([0xff, 0, 1]);
      expect(await store.currentDirectorMetadata(VEHICLE_A, 'snapshot')).toEqual(
        md(VEHICLE_A, 'snapshot', 1),
      );
      expect(await store.publishedDirectorMetadata(VEHICLE_A, 'timestamp', 1)).toEqual(
        md(VEHICLE_A, 'timestamp', 1),
      );
    });

    it('publishes without a log index (no log configured)', async () => {
      const store = await openStore();
      await store.stageDirectorMetadata([md(VEHICLE_A, 'targets', 1)]);
      await store.publishDirectorMetadata([ref(md(VEHICLE_A, 'targets', 1))]);
      expect((await store.currentDirectorMetadata(VEHICLE_A, 'targets'))?.logIndex).toBeNull();
    });

    it('answers the newest published version as current, not a newer staged one', async () => {
      const store = await openStore();
      for (const version of [1, 2]) {
        await store.stageDirectorMetadata([md(VEHICLE_A, 'targets', version)]);
        await store.publishDirectorMetadata([ref(md(VEHICLE_A, 'targets', version))], version);
      }
      await store.stageDirectorMetadata([md(VEHICLE_A, 'targets', 3)]);
      expect((await store.currentDirectorMetadata(VEHICLE_A, 'targets'))?.version).toBe(2);
      expect((await store.publishedDirectorMetadata(VEHICLE_A, 'targets', 1))?.logIndex).toBe(1);
      expect(await store.maxDirectorVersion(VEHICLE_A, 'targets')).toBe(3);
    });

    it('refuses a vehicle+role+version stored before (METADATA_VERSION_TAKEN) and stages none of that batch', async () => {
      const store = await openStore();
      await store.stageDirectorMetadata([md(VEHICLE_A, 'targets', 1)]);
      await expect(
        store.stageDirectorMetadata([md(VEHICLE_A, 'snapshot', 1), md(VEHICLE_A, 'targets', 1, 9)]),
      ).rejects.toMatchObject({ code: 'METADATA_VERSION_TAKEN' });
      expect(await store.maxDirectorVersion(VEHICLE_A, 'snapshot')).toBe(0);
      const staged = await store.stagedDirectorMetadata();
      expect(staged).toEqual([md(VEHICLE_A, 'targets', 1)]);
    });

    it('keeps version chains apart per vehicle and role', async () => {
      const store = await openStore();
      await store.stageDirectorMetadata([...chain(VEHICLE_A), ...chain(VEHICLE_B)]);
      expect(await store.stagedDirectorMetadata()).toHaveLength(6);
    });

    it('refuses a role outside targets, snapshot and timestamp, and a version below 1', async () => {
      const store = await openStore();
      await expect(
        store.stageDirectorMetadata([md(VEHICLE_A, 'root' as DirectorRole, 1)]),
      ).rejects.toThrow();
      await expect(store.stageDirectorMetadata([md(VEHICLE_A, 'targets', 0)])).rejects.toThrow();
      expect(await store.stagedDirectorMetadata()).toEqual([]);
    });

    it('lists published targets by vehicle (byte order) then version, or of one vehicle', async () => {
      const store = await openStore();
      // 'B…' sorts before 'a…' in bytes, after it in most locales.
      const upper = 'B'.repeat(64);
      const records = [
        md(VEHICLE_A, 'targets', 2),
        md(upper, 'targets', 1),
        md(VEHICLE_A, 'targets', 1),
        md(VEHICLE_A, 'snapshot', 1),
      ];
      await store.stageDirectorMetadata([...records, md(VEHICLE_A, 'targets', 3)]);
      await store.publishDirectorMetadata(records.map(ref), 1);
      expect((await store.publishedDirectorTargets()).map((r) => [r.vehicle, r.version])).toEqual([
        [upper, 1],
        [VEHICLE_A, 1],
        [VEHICLE_A, 2],
      ]);
      expect((await store.publishedDirectorTargets(VEHICLE_A)).map((r) => r.version)).toEqual([
        1, 2,
      ]);
    });
  });

  describe('ECU inventory', () => {
    it('appends versions 1, 2, … and answers the latest and the history in order', async () => {
      const store = await openStore();
      expect(await store.latestInventory(VEHICLE_A)).toBeUndefined();
      expect(await store.inventoryHistory(VEHICLE_A)).toEqual([]);
      const first = await store.appendInventory(inventory(VEHICLE_A), 0);
      expect(first).toEqual({ ...inventory(VEHICLE_A), version: 1 });
      const reg2 = registration('GW-1', 'BRK-2');
      await store.appendInventory(inventory(VEHICLE_A, reg2), 1);
      await store.appendInventory(inventory(VEHICLE_B), 0);
      expect(await store.latestInventory(VEHICLE_A)).toEqual({
        ...inventory(VEHICLE_A, reg2),
        version: 2,
      });
      expect((await store.inventoryHistory(VEHICLE_A)).map((v) => v.version)).toEqual([1, 2]);
      expect((await store.inventoryHistory(VEHICLE_B)).map((v) => v.version)).toEqual([1]);
    });

    it.each([
      { desc: 'behind the stored one', expectedPrevious: 0 },
      { desc: 'ahead of the stored one', expectedPrevious: 2 },
    ])(
      'refuses an expected previous version $desc (INVENTORY_CONFLICT) and appends nothing',
      async ({ expectedPrevious }) => {
        const store = await openStore();
        await store.appendInventory(inventory(VEHICLE_A), 0);
        await expect(
          store.appendInventory(inventory(VEHICLE_A, registration('X-1')), expectedPrevious),
        ).rejects.toMatchObject({ code: 'INVENTORY_CONFLICT' });
        expect(await store.inventoryHistory(VEHICLE_A)).toEqual([
          { ...inventory(VEHICLE_A), version: 1 },
        ]);
      },
    );

    it.each([
      `UPDATE ecu_inventory_versions SET signer_serial = 'forged'`,
      'DELETE FROM ecu_inventory_versions',
    ])('refuses rewriting history in the table itself: %s', async (sql) => {
      const db = await newDatabase();
      const store = await db.open();
      await store.appendInventory(inventory(VEHICLE_A), 0);
      await expect(db.exec(sql)).rejects.toThrow(/append-only/);
      expect(await store.latestInventory(VEHICLE_A)).toEqual({
        ...inventory(VEHICLE_A),
        version: 1,
      });
    });
  });

  describe('assignments', () => {
    it('stores assignments with increasing ids, as given, and finds them by id or correlation id', async () => {
      const store = await openStore();
      expect(await store.assignment(1)).toBeUndefined();
      expect(await store.assignmentByCorrelationId('urn:tufchain:a:1')).toBeUndefined();
      const one = await store.insertAssignment(assignment(VEHICLE_A, 'urn:tufchain:a:1'));
      const two = await store.insertAssignment(
        assignment(VEHICLE_B, 'urn:tufchain:a:2', { atomic: false }),
      );
      expect(two.id).toBeGreaterThan(one.id);
      expect(one).toEqual({
        ...assignment(VEHICLE_A, 'urn:tufchain:a:1'),
        id: one.id,
        updatedAt: CREATED,
        manifestId: null,
      });
      expect(await store.assignment(one.id)).toEqual(one);
      expect(await store.assignmentByCorrelationId('urn:tufchain:a:2')).toEqual(two);
      expect((await store.assignment(two.id))?.atomic).toBe(false);
    });

    it('refuses a correlation id taken before (CORRELATION_ID_REUSED) and keeps the first', async () => {
      const store = await openStore();
      const first = await store.insertAssignment(assignment(VEHICLE_A, 'urn:tufchain:a:1'));
      await expect(
        store.insertAssignment(assignment(VEHICLE_B, 'urn:tufchain:a:1')),
      ).rejects.toMatchObject({ code: 'CORRELATION_ID_REUSED' });
      expect(await store.assignments({})).toEqual([first]);
    });

    it('lists assignments by id, filtered by vehicle, status or both', async () => {
      const store = await openStore();
      const a1 = await store.insertAssignment(assignment(VEHICLE_A, 'urn:tufchain:a:1'));
      const b1 = await store.insertAssignment(assignment(VEHICLE_B, 'urn:tufchain:a:2'));
      const a2 = await store.insertAssignment(
        assignment(VEHICLE_A, 'urn:tufchain:a:3', { status: 'cancelled' }),
      );
      const ids = async (filter: Parameters<DirectorStore['assignments']>[0]) =>
        (await store.assignments(filter)).map((a) => a.id);
      expect(await ids({})).toEqual([a1.id, b1.id, a2.id]);
      expect(await ids({ vehicle: VEHICLE_A })).toEqual([a1.id, a2.id]);
      expect(await ids({ status: 'active' })).toEqual([a1.id, b1.id]);
      expect(await ids({ vehicle: VEHICLE_A, status: 'active' })).toEqual([a1.id]);
      expect(await ids({ vehicle: sha('0') })).toEqual([]);
    });

    it('sets a status with its time, and keeps the completing manifest when none is given', async () => {
      const store = await openStore();
      const a = await store.insertAssignment(assignment(VEHICLE_A, 'urn:tufchain:a:1'));
      await store.setAssignmentStatus(a.id, 'completed', '2026-01-02T00:00:00.000Z', 42);
      await store.setAssignmentStatus(a.id, 'cancelled', '2026-01-03T00:00:00.000Z');
      expect(await store.assignment(a.id)).toEqual({
        ...a,
        status: 'cancelled',
        updatedAt: '2026-01-03T00:00:00.000Z',
        manifestId: 42,
      });
    });

    it('refuses a status outside the lifecycle', async () => {
      const store = await openStore();
      const a = await store.insertAssignment(assignment(VEHICLE_A, 'urn:tufchain:a:1'));
      await expect(
        store.setAssignmentStatus(a.id, 'paused' as AssignmentRecord['status'], CREATED),
      ).rejects.toThrow();
      expect((await store.assignment(a.id))?.status).toBe('active');
    });
  });

  describe('manifests and ECU reports', () => {
    it('stores manifests with increasing ids and finds them by digest or vehicle', async () => {
      const store = await openStore();
      expect(await store.manifestBySha256(manifest(VEHICLE_A, 1).manifestSha256)).toBeUndefined();
      const m1 = await store.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 1)]);
      const m2 = await store.insertManifest(manifest(VEHICLE_B, 2), []);
      const m3 = await store.insertManifest(manifest(VEHICLE_A, 3), []);
      expect(m1).toEqual({ ...manifest(VEHICLE_A, 1), id: m1.id });
      expect(m2.id).toBeGreaterThan(m1.id);
      expect(await store.manifestBySha256(m2.manifestSha256)).toEqual(m2);
      expect(await store.manifests(VEHICLE_A)).toEqual([m1, m3]);
      expect(await store.manifests(sha('0'))).toEqual([]);
    });

    it('refuses a manifest recorded before (MANIFEST_ALREADY_RECORDED) and stores none of its reports', async () => {
      const store = await openStore();
      const first = await store.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 1)]);
      await expect(
        store.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 5)]),
      ).rejects.toMatchObject({ code: 'MANIFEST_ALREADY_RECORDED' });
      expect(await store.manifests(VEHICLE_A)).toEqual([first]);
      expect(await store.lastReportCounter(VEHICLE_A, 'GW-1')).toBe(1);
    });

    it('stores a manifest and its reports in one transaction: a bad report stores neither', async () => {
      const store = await openStore();
      const m = manifest(VEHICLE_A, 1);
      await expect(
        store.insertManifest(m, [report('GW-1', 1), report('GW-1', 2)]),
      ).rejects.toThrow();
      expect(await store.manifestBySha256(m.manifestSha256)).toBeUndefined();
      expect(await store.lastReportCounter(VEHICLE_A, 'GW-1')).toBeUndefined();
    });

    it('answers the highest trusted counter of an ECU, per vehicle and ECU', async () => {
      const store = await openStore();
      expect(await store.lastReportCounter(VEHICLE_A, 'GW-1')).toBeUndefined();
      await store.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 3), report('BRK-2', 9)]);
      await store.insertManifest(manifest(VEHICLE_A, 2), [
        report('GW-1', 2 ** 40, { trusted: false }),
      ]);
      await store.insertManifest(manifest(VEHICLE_B, 3), [report('GW-1', 50)]);
      expect(await store.lastReportCounter(VEHICLE_A, 'GW-1')).toBe(3);
      expect(await store.lastReportCounter(VEHICLE_A, 'BRK-2')).toBe(9);
      expect(await store.lastReportCounter(VEHICLE_B, 'GW-1')).toBe(50);
    });

    it('remembers nonces per vehicle, trusted or not', async () => {
      const store = await openStore();
      await store.insertManifest(manifest(VEHICLE_A, 1), [
        report('GW-1', 1, { nonce: 'n-1', trusted: false }),
      ]);
      expect(await store.nonceSeen(VEHICLE_A, 'n-1')).toBe(true);
      expect(await store.nonceSeen(VEHICLE_A, 'n-2')).toBe(false);
      expect(await store.nonceSeen(VEHICLE_B, 'n-1')).toBe(false);
    });

    it("answers an ECU's first trusted image as its factory image", async () => {
      const store = await openStore();
      expect(await store.firstReportedImage(VEHICLE_A, 'GW-1')).toBeUndefined();
      await store.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 1, { trusted: false })]);
      await store.insertManifest(manifest(VEHICLE_A, 2), [report('GW-1', 2)]);
      await store.insertManifest(manifest(VEHICLE_A, 3), [report('GW-1', 3)]);
      expect(await store.firstReportedImage(VEHICLE_A, 'GW-1')).toEqual({
        filepath: 'GW-1-2.img',
        sha256: sha('2'),
      });
      expect(await store.firstReportedImage(VEHICLE_B, 'GW-1')).toBeUndefined();
    });
  });

  describe('replicas on one database', () => {
    it('lets exactly one of two replicas stage the same version; the stored bytes are the winner', async () => {
      const db = await newDatabase();
      const [one, two] = [await db.open(), await db.open()];
      const results = await Promise.allSettled([
        one.stageDirectorMetadata(
          chain(VEHICLE_A).map((r) => ({ ...r, bytes: new Uint8Array([1]) })),
        ),
        two.stageDirectorMetadata(
          chain(VEHICLE_A).map((r) => ({ ...r, bytes: new Uint8Array([2]) })),
        ),
      ]);
      const won = results.findIndex((r) => r.status === 'fulfilled');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { code: 'METADATA_VERSION_TAKEN' },
      });
      const staged = await two.stagedDirectorMetadata();
      expect(staged.map((r) => [r.role, [...r.bytes]])).toEqual(
        ['targets', 'snapshot', 'timestamp'].map((role) => [role, [won + 1]]),
      );
    });

    it('lets exactly one of many replicas win each next version', async () => {
      const db = await newDatabase();
      const stores: DirectorStore[] = [];
      // One at a time: replicas starting together would race on the blob dir's tmp/.
      for (let i = 0; i < 4; i++) stores.push(await db.open());
      const results = await Promise.allSettled(
        stores.map((s, i) => s.stageDirectorMetadata([md(VEHICLE_A, 'targets', 1, i)])),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((x) => x.status === 'rejected')) {
        expect(r.reason).toMatchObject({ code: 'METADATA_VERSION_TAKEN' });
      }
    });

    it('lets exactly one of two replicas append the next inventory version', async () => {
      const db = await newDatabase();
      const [one, two] = [await db.open(), await db.open()];
      await one.appendInventory(inventory(VEHICLE_A), 0);
      const results = await Promise.allSettled([
        one.appendInventory(inventory(VEHICLE_A, registration('ONE-1')), 1),
        two.appendInventory(inventory(VEHICLE_A, registration('TWO-1')), 1),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { code: 'INVENTORY_CONFLICT' },
      });
      expect((await two.inventoryHistory(VEHICLE_A)).map((v) => v.version)).toEqual([1, 2]);
    });

    it('gives a correlation id and a manifest to one replica only', async () => {
      const db = await newDatabase();
      const [one, two] = [await db.open(), await db.open()];
      const assigned = await Promise.allSettled([
        one.insertAssignment(assignment(VEHICLE_A, 'urn:tufchain:a:1')),
        two.insertAssignment(assignment(VEHICLE_B, 'urn:tufchain:a:1')),
      ]);
      expect(assigned.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { code: 'CORRELATION_ID_REUSED' },
      });
      const recorded = await Promise.allSettled([
        one.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 1)]),
        two.insertManifest(manifest(VEHICLE_A, 1), [report('GW-1', 1)]),
      ]);
      expect(recorded.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { code: 'MANIFEST_ALREADY_RECORDED' },
      });
      expect(await one.assignments({})).toHaveLength(1);
      expect(await one.manifests(VEHICLE_A)).toHaveLength(1);
    });

    it('shows a replica what another published', async () => {
      const db = await newDatabase();
      const [one, two] = [await db.open(), await db.open()];
      await one.insertDirectorRoot(root(1), CREATED);
      await one.stageDirectorMetadata(chain(VEHICLE_A));
      expect((await two.stagedDirectorMetadata()).map(ref)).toEqual(chain(VEHICLE_A).map(ref));
      await two.publishDirectorMetadata(chain(VEHICLE_A).map(ref), 3);
      expect(await one.currentDirectorRoot()).toEqual(root(1));
      expect((await one.currentDirectorMetadata(VEHICLE_A, 'targets'))?.logIndex).toBe(3);
    });
  });

  describe('lifecycle', () => {
    it('keeps what it stored when reopened; closing twice is harmless', async () => {
      const db = await newDatabase();
      const store = await db.open();
      await store.insertDirectorRoot(root(1), CREATED);
      await store.close();
      await store.close();
      expect(await (await db.open()).currentDirectorRoot()).toEqual(root(1));
    });
  });
});

describe.runIf(testEngine() === 'postgres')(
  'PostgresDirectorStore (PostgreSQL only: skipped in the default project, runs in server-postgres)',
  () => {
    it('is one Director for replicas with data dirs of their own on one database', async () => {
      const databaseUrl = await newTestDatabaseUrl();
      if (databaseUrl === undefined) throw new Error('no PostgreSQL database');
      const [a, b] = await Promise.all(
        [1, 2].map(async () => openRepository({ dataDir: await tempDir(), databaseUrl })),
      );
      opened.push(a!, b!);
      await a!.director.insertDirectorRoot(root(1), CREATED);
      expect(await b!.director.currentDirectorRoot()).toEqual(root(1));
    });

    it('opens on a pool of its own, migrating a new database, and ends that pool on close', async () => {
      const databaseUrl = await newTestDatabaseUrl();
      if (databaseUrl === undefined) throw new Error('no PostgreSQL database');
      const store = await PostgresDirectorStore.open({ connectionString: databaseUrl });
      await store.insertDirectorRoot(root(1), CREATED);
      await store.close();
      await expect(store.currentDirectorRoot()).rejects.toThrow();
      const repo = await openRepository({ dataDir: await tempDir(), databaseUrl });
      opened.push(repo);
      expect(await repo.director.currentDirectorRoot()).toEqual(root(1));
    });

    it('closes with the repository store: the Director leaves the shared pool open until then', async () => {
      const databaseUrl = await newTestDatabaseUrl();
      if (databaseUrl === undefined) throw new Error('no PostgreSQL database');
      const repo = await openRepository({ dataDir: await tempDir(), databaseUrl });
      await repo.director.close();
      await repo.store.ping();
      await repo.close();
      await expect(repo.store.ping()).rejects.toMatchObject({ code: 'NOT_READY' });
    });
  },
);
