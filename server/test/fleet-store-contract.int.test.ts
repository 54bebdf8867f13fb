/**
 * The FleetStore contract, on the engine of the vitest project (testEngine()): SQLite in a temp dir
 * in `default`, a real PostgreSQL database in `server-postgres`. The store is the one
 * openRepository hands the server; the Director's rows it reads are written through the Director's
 * own store, as the Director writes them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { EcuRegistration } from '@tufchain/transparency/wire';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStore, GroupRecord } from '../src/fleet/store.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { newTestDatabaseUrl } from './support/database.js';

const sha = (c: string): string => c.repeat(64);
const AT = '2026-01-01T00:00:00.000Z';

let dir: string;
let databaseUrl: string | undefined;
let repo: OpenedRepository;
let fleet: FleetStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-fleet-contract-'));
  databaseUrl = await newTestDatabaseUrl();
  repo = await openRepository(
    databaseUrl === undefined ? { dataDir: dir } : { dataDir: dir, databaseUrl },
  );
  fleet = repo.fleet;
  // Vehicle 1: enrolled only. 2: enrolled, two inventories, reports. 3: inventory only.
  for (const [serial, vehicle] of [
    ['01', sha('1')],
    ['02', sha('2')],
  ] as const) {
    await repo.store.insertVehicleCertificate({
      serialNumber: serial,
      vinCommitment: vehicle,
      ecuSerial: `GW-${serial}`,
      publicKeySha256: sha(serial.slice(1)),
      certificatePem: 'pem',
      notBefore: AT,
      notAfter: '2030-01-01T00:00:00.000Z',
      issuedAt: AT,
      enrolledBy: 'token:t',
      previousSerialNumber: null,
      revokedAt: null,
      revocationReason: null,
    });
  }
  const registration = (ecus: [string, string][]): EcuRegistration => ({
    primary_ecu_serial: ecus[0]![0],
    ecus: ecus.map(([ecu_serial, hardware_identifier]) => ({
      ecu_serial,
      hardware_identifier,
      clientKey: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: sha('9') } },
    })),
  });
  const inventory = (vehicle: string, ecus: [string, string][]) => ({
    vehicle,
    registration: registration(ecus),
    signerSerial: '02',
    createdAt: AT,
  });
  await repo.director.appendInventory(
    inventory(sha('2'), [
      ['GW', 'gw-rev2'],
      ['OLD', 'old-hw'],
    ]),
    0,
  );
  await repo.director.appendInventory(
    inventory(sha('2'), [
      ['GW', 'gw-rev3'],
      ['BRK', 'brake-b7'],
    ]),
    1,
  );
  await repo.director.appendInventory(inventory(sha('3'), [['GW', 'gw-rev3']]), 0);
  const report = (ecuSerial: string, counter: number, filepath: string, trusted: boolean) => ({
    ecuSerial,
    reportCounter: counter,
    nonce: `n${counter}`,
    filepath,
    sha256: sha(String(counter % 10)),
    trusted,
  });
  const manifest = (n: number) => ({
    vehicle: sha('2'),
    manifestSha256: sha(String(n)),
    manifest: {},
    flags: [],
    completedAssignments: [],
    receivedAt: AT,
  });
  await repo.director.insertManifest(manifest(1), [
    report('GW', 1, 'gw-1.0.img', true),
    report('BRK', 1, 'brake-2.3.bin', true),
    report('OLD', 1, 'old.bin', true),
  ]);
  // A later report of GW that does not count (not signed by its key, or replayed).
  await repo.director.insertManifest(manifest(2), [
    report('GW', 2, 'gw-evil.img', false),
    report('BRK', 2, 'brake-2.4.bin', true),
  ]);
});

afterAll(async () => {
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

async function exec(sql: string): Promise<void> {
  if (databaseUrl === undefined) {
    const db = new DatabaseSync(join(dir, 'tufchain.sqlite'));
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
}

describe('FleetStore', () => {
  describe('vehicles', () => {
    it('lists every known vehicle (enrolled or registered with the Director) once, in byte order, by pages', async () => {
      const first = await fleet.vehicles({ limit: 2 });
      expect(first.map((v) => v.vehicle)).toEqual([sha('1'), sha('2')]);
      const rest = await fleet.vehicles({ after: sha('2'), limit: 2 });
      expect(rest.map((v) => v.vehicle)).toEqual([sha('3')]);
    });

    it("reads ECUs from the latest inventory, and each ECU's image from its latest trusted report", async () => {
      expect(await fleet.vehicle(sha('2'))).toEqual({
        vehicle: sha('2'),
        attributes: null,
        ecus: [
          {
            ecuSerial: 'BRK',
            hardwareId: 'brake-b7',
            installed: { name: 'brake-2.4.bin', sha256: sha('2') },
          },
          {
            ecuSerial: 'GW',
            hardwareId: 'gw-rev3',
            installed: { name: 'gw-1.0.img', sha256: sha('1') },
          },
        ],
      });
      expect(await fleet.vehicle(sha('1'))).toEqual({
        vehicle: sha('1'),
        attributes: null,
        ecus: [],
      });
      expect((await fleet.vehicle(sha('3')))?.ecus).toEqual([
        { ecuSerial: 'GW', hardwareId: 'gw-rev3', installed: null },
      ]);
    });

    it('answers undefined for a vehicle it does not know, and names the unknown ones of a list', async () => {
      expect(await fleet.vehicle(sha('4'))).toBeUndefined();
      expect(
        await fleet.unknownVehicles([sha('5'), sha('1'), sha('4'), sha('3'), sha('5')]),
      ).toEqual([sha('4'), sha('5')]);
      expect(await fleet.unknownVehicles([])).toEqual([]);
    });

    it('stores attributes and replaces them on the next put', async () => {
      const input = { model: 'Roadster', modelYear: 2024, region: 'EU', tags: ['a', 'b'] };
      expect(await fleet.putAttributes(sha('1'), input, AT, 'token:x')).toEqual({
        ...input,
        updatedAt: AT,
        updatedBy: 'token:x',
      });
      const replaced = { model: null, modelYear: null, region: 'US', tags: [] };
      await fleet.putAttributes(sha('1'), replaced, '2026-01-02T00:00:00.000Z', 'token:y');
      expect((await fleet.vehicle(sha('1')))?.attributes).toEqual({
        ...replaced,
        updatedAt: '2026-01-02T00:00:00.000Z',
        updatedBy: 'token:y',
      });
    });
  });

  describe('groups and snapshots', () => {
    const group = (name: string): Omit<GroupRecord, 'id'> => ({
      name,
      description: null,
      definition: { kind: 'dynamic', filter: { tag: 'a' } },
      createdAt: AT,
      createdBy: 'token:x',
    });

    it('stores groups, refuses a taken name with GROUP_NAME_TAKEN, pages by id and deletes', async () => {
      const a = await fleet.insertGroup(group('pilot'));
      const b = await fleet.insertGroup({
        ...group('bench'),
        description: 'test bench',
        definition: { kind: 'static', vehicles: [sha('1')] },
      });
      await expect(fleet.insertGroup(group('pilot'))).rejects.toMatchObject({
        code: 'GROUP_NAME_TAKEN',
      });
      expect(await fleet.group(b.id)).toEqual(b);
      expect((await fleet.groups({ limit: 1 })).map((g) => g.id)).toEqual([a.id]);
      expect((await fleet.groups({ after: a.id, limit: 10 })).map((g) => g.id)).toEqual([b.id]);
      expect(await fleet.deleteGroup(a.id)).toBe(true);
      expect(await fleet.deleteGroup(a.id)).toBe(false);
      expect(await fleet.group(a.id)).toBeUndefined();
      // The name is free again; the new group is another id.
      expect((await fleet.insertGroup(group('pilot'))).id).toBeGreaterThan(b.id);
    });

    it('records a snapshot with its members, pages them in order, and keeps it after its group is deleted', async () => {
      const g = await fleet.insertGroup(group('wave-source'));
      const members = [sha('1'), sha('2'), sha('3')];
      const snap = await fleet.insertSnapshot(
        {
          groupId: g.id,
          groupName: g.name,
          definition: g.definition,
          memberCount: 3,
          membersSha256: sha('d'),
          createdAt: AT,
          createdBy: 'token:x',
        },
        members,
      );
      await fleet.deleteGroup(g.id);
      expect(await fleet.snapshot(snap.id)).toEqual(snap);
      expect(await fleet.snapshotMembers(snap.id, { limit: 2 })).toEqual(members.slice(0, 2));
      expect(await fleet.snapshotMembers(snap.id, { after: sha('2'), limit: 2 })).toEqual([
        sha('3'),
      ]);
      expect(await fleet.snapshot(snap.id + 1000)).toBeUndefined();
    });

    it('keeps snapshots and their members append-only, whatever SQL an operator runs', async () => {
      const g = await fleet.insertGroup(group('frozen'));
      const snap = await fleet.insertSnapshot(
        {
          groupId: g.id,
          groupName: g.name,
          definition: g.definition,
          memberCount: 1,
          membersSha256: sha('c'),
          createdAt: AT,
          createdBy: 'token:x',
        },
        [sha('1')],
      );
      await expect(
        exec(`UPDATE fleet_group_snapshots SET member_count = 9 WHERE id = ${snap.id}`),
      ).rejects.toThrow(/append-only/);
      await expect(
        exec(`DELETE FROM fleet_snapshot_members WHERE snapshot_id = ${snap.id}`),
      ).rejects.toThrow(/append-only/);
      expect(await fleet.snapshot(snap.id)).toEqual(snap);
      expect(await fleet.snapshotMembers(snap.id, { limit: 10 })).toEqual([sha('1')]);
    });
  });
});
