/**
 * The CampaignStore contract, on the engine of the vitest project: SQLite in a temp dir in
 * `default`, a real PostgreSQL database in `server-postgres`. The rows it reads (snapshots,
 * Director assignments, install reports) are written through their own stores.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignRecord } from '../src/campaigns/model.js';
import type { CampaignStore, NewCampaign, Transition } from '../src/campaigns/store.js';
import { ServerError } from '../src/error.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { newTestDatabaseUrl } from './support/database.js';

const sha = (c: string): string => c.repeat(64);
const AT = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-02T00:00:00.000Z';
const [V1, V2, V3] = [sha('1'), sha('2'), sha('3')] as const;

let dir: string;
let repo: OpenedRepository;
let store: CampaignStore;
let snapshotId: number;

const draft = (n: number): NewCampaign => ({
  urn: `urn:tufchain:campaign:${String(n).padStart(32, '0')}`,
  name: `c${n}`,
  groupId: 1,
  release: [{ hardwareId: 'gw', name: 'gw-2.img', sha256: sha('a'), length: 10 }],
  waves: [
    { percent: 50, minSoakSeconds: 0, successPercent: 0 },
    { percent: 100, minSoakSeconds: 0, successPercent: 0 },
  ],
  failureThreshold: { percent: 2, count: null },
  maxDeferrals: 3,
  salt: sha('5'),
  state: 'draft',
  wave: 0,
  reason: null,
  createdAt: AT,
  createdBy: 'token:t',
});

const startWave = (c: CampaignRecord, wave: number, members: string[]): Transition => ({
  campaignId: c.id,
  expectedVersion: c.version,
  state: 'running',
  wave,
  reason: null,
  at: AT,
  event: { kind: 'wave-started', at: AT, detail: { wave } },
  startWave: {
    wave,
    snapshotId,
    memberCount: members.length,
    membersSha256: sha('b'),
    assignmentSha256: sha('c'),
    startedAt: AT,
    members,
  },
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return error instanceof ServerError ? error.code : String(error);
  }
}

async function assign(vehicle: string, correlation: string): Promise<number> {
  const a = await repo.director.insertAssignment({
    vehicle,
    correlationId: `urn:tufchain:test:${correlation}`,
    atomic: false,
    status: 'active',
    images: [
      {
        ecuSerial: 'GW',
        hardwareId: 'gw',
        name: 'gw-2.img',
        length: 10,
        sha256: sha('a'),
        releaseCounter: 2,
      },
    ],
    createdBy: 'campaign:1',
    createdAt: LATER,
  });
  return a.id;
}

let reportCounter = 0;
async function report(vehicle: string, targetName: string, result: string, receivedAt: string) {
  reportCounter += 1;
  await repo.store.insertAttestation({
    reportSha256: sha('d').slice(0, 56) + String(reportCounter).padStart(8, '0'),
    counter: reportCounter,
    bundleSha256: sha('e').slice(0, 56) + String(reportCounter).padStart(8, '0'),
    bundleJson: '{}',
    vinCommitment: vehicle,
    ecuSerial: 'GW',
    targetName,
    result,
    receivedAt,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-campaign-contract-'));
  const databaseUrl = await newTestDatabaseUrl();
  repo = await openRepository(
    databaseUrl === undefined ? { dataDir: dir } : { dataDir: dir, databaseUrl },
  );
  store = repo.campaigns;
  const snapshot = await repo.fleet.insertSnapshot(
    {
      groupId: 1,
      groupName: 'g',
      definition: { kind: 'static', vehicles: [V1, V2, V3] },
      memberCount: 3,
      membersSha256: sha('f'),
      createdAt: AT,
      createdBy: 'token:t',
    },
    [V1, V2, V3],
  );
  snapshotId = snapshot.id;
});

afterAll(async () => {
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('CampaignStore', () => {
  it('inserts a draft at version 1 with its created event as seq 1, not yet logged', async () => {
    const c = await store.insertCampaign(draft(1), { kind: 'created', at: AT, detail: { a: 1 } });
    expect(c).toMatchObject({ version: 1, state: 'draft', wave: 0 });
    expect(await store.campaign(c.id)).toEqual(c);
    expect(await store.campaignByUrn(c.urn)).toEqual(c);
    expect(await store.campaignByUrn(`${c.urn.slice(0, -1)}x`)).toBeUndefined();
    expect(await store.events(c.id)).toEqual([
      { campaignId: c.id, seq: 1, kind: 'created', at: AT, detail: { a: 1 }, logIndex: null },
    ]);
    expect(await codeOf(store.campaign(c.id + 1000))).toBeUndefined();
  });

  it('starts a wave in one transaction: state, event seq 2, the wave and its members as pending', async () => {
    const c = await store.insertCampaign(draft(2), { kind: 'created', at: AT, detail: {} });
    const running = await store.transition(startWave(c, 1, [V2, V1]));
    expect(running).toMatchObject({ state: 'running', wave: 1, version: 2 });
    expect(await store.waves(c.id)).toEqual([
      expect.objectContaining({
        wave: 1,
        memberCount: 2,
        assignedAt: null,
        acknowledgedFailures: 0,
      }),
    ]);
    expect((await store.pendingVehicles(c.id, 1, 10)).map((r) => r.vehicle)).toEqual([V1, V2]);
    expect(await store.campaignVehicles(c.id)).toEqual([V1, V2]);
    expect((await store.events(c.id)).map((e) => [e.seq, e.kind])).toEqual([
      [1, 'created'],
      [2, 'wave-started'],
    ]);
  });

  it('refuses a transition from a stale version with CAMPAIGN_CHANGED and changes nothing', async () => {
    const c = await store.insertCampaign(draft(3), { kind: 'created', at: AT, detail: {} });
    await store.transition(startWave(c, 1, [V1]));
    expect(await codeOf(store.transition(startWave(c, 1, [V2])))).toBe('CAMPAIGN_CHANGED');
    expect(await store.campaignVehicles(c.id)).toEqual([V1]);
    expect(await store.events(c.id)).toHaveLength(2);
  });

  it('rolls a whole wave start back when one member is already in the campaign', async () => {
    const c = await store.insertCampaign(draft(4), { kind: 'created', at: AT, detail: {} });
    const running = await store.transition(startWave(c, 1, [V1]));
    expect(await codeOf(store.transition(startWave(running, 2, [V2, V1])))).toBeDefined();
    expect(await store.campaign(c.id)).toMatchObject({ wave: 1, version: 2 });
    expect(await store.waves(c.id)).toHaveLength(1);
    expect(await store.campaignVehicles(c.id)).toEqual([V1]);
    expect(await store.events(c.id)).toHaveLength(2);
  });

  it('assigns or skips a pending vehicle once, and counts only verified reports since its assignment', async () => {
    const c = await store.insertCampaign(draft(5), { kind: 'created', at: AT, detail: {} });
    await store.transition(startWave(c, 1, [V1, V2, V3]));
    const a1 = await assign(V1, 'c5-v1');
    const a2 = await assign(V2, 'c5-v2');
    const at = { createdAt: LATER, imageNames: ['gw-2.img'] };
    expect(await store.markAssigned(c.id, V1, { id: a1, ...at })).toBe(true);
    expect(await store.markAssigned(c.id, V1, { id: a1, ...at })).toBe(false);
    expect(await store.markAssigned(c.id, V2, { id: a2, ...at })).toBe(true);
    expect(await store.markSkipped(c.id, V3, 'NO_MATCHING_ECU')).toBe(true);
    expect(await store.markSkipped(c.id, V1, 'NO_MATCHING_ECU')).toBe(false);
    expect(await store.pendingVehicles(c.id, 1, 10)).toEqual([]);

    await report(V1, 'gw-2.img', 'FAILURE', AT); // before the assignment: does not count
    await report(V1, 'gw-1.img', 'SUCCESS', LATER); // another image: does not count
    await report(V1, 'gw-2.img', 'SUCCESS', LATER);
    await report(V2, 'gw-2.img', 'ROLLED_BACK', LATER);
    await report(V2, 'gw-2.img', 'FAILURE', LATER);
    const outcomes = await store.vehicleOutcomes(c.id);
    expect(outcomes).toEqual([
      {
        vehicle: V1,
        wave: 1,
        status: 'assigned',
        reason: null,
        directorStatus: 'active',
        imageCount: 1,
        succeededImages: 1,
        failureReports: 0,
        manifestFailures: 0,
        deferrals: 0,
        assignmentId: a1,
      },
      expect.objectContaining({ vehicle: V2, succeededImages: 0, failureReports: 2 }),
      expect.objectContaining({ vehicle: V3, status: 'skipped', reason: 'NO_MATCHING_ECU' }),
    ]);
  });

  it('counts signed manifests for the assignment: failures and deferrals apart, only since it and only its own', async () => {
    const c = await store.insertCampaign(draft(8), { kind: 'created', at: AT, detail: {} });
    await store.transition(startWave(c, 1, [V1, V2]));
    const at = { createdAt: LATER, imageNames: ['gw-2.img'] };
    await store.markAssigned(c.id, V1, { id: await assign(V1, 'c8-v1'), ...at });
    await store.markAssigned(c.id, V2, { id: await assign(V2, 'c8-v2'), ...at });
    let n = 0;
    const manifest = async (
      vehicle: string,
      correlationId: string,
      code: string,
      success: boolean,
      receivedAt = LATER,
    ) => {
      n += 1;
      await repo.director.insertManifest(
        {
          vehicle,
          manifestSha256: sha('9').slice(0, 60) + String(n).padStart(4, '0'),
          manifest: {
            signatures: [],
            signed: {
              vehicle,
              installation_report: {
                correlation_id: correlationId,
                items: [{ ecu: 'GW', result: { code, success, description: '' } }],
              },
            },
          },
          flags: [],
          completedAssignments: [],
          receivedAt,
        },
        [],
      );
    };
    const own = (v: string) => `${c.urn}:${v}`;
    await manifest(V1, own(V1), 'DEFERRED', false);
    await manifest(V1, own(V1), 'PRECONDITIONS_NOT_MET', false);
    await manifest(V1, own(V1), 'OK', true);
    await manifest(V1, own(V1), 'DEFERRED', false, AT); // before the assignment
    await manifest(V1, 'urn:tufchain:other:1', 'DEFERRED', false); // another assignment
    await manifest(V2, own(V2), 'ROLLED_BACK', false);
    await manifest(V2, own(V1), 'VERIFICATION_FAILED', false); // another vehicle's correlation
    const outcomes = await store.vehicleOutcomes(c.id);
    expect(outcomes.map((o) => [o.vehicle, o.deferrals, o.manifestFailures])).toEqual([
      [V1, 2, 0],
      [V2, 0, 1],
    ]);
  });

  it('finds the campaigns in given states that hold a vehicle, never the asking one', async () => {
    const c = await store.insertCampaign(draft(6), { kind: 'created', at: AT, detail: {} });
    await store.transition(startWave(c, 1, [V3]));
    const holders = await store.holders([V3], ['running'], c.id);
    expect(holders.length).toBeGreaterThan(0);
    expect(holders.every((h) => h.campaignId !== c.id && h.vehicle === V3)).toBe(true);
    expect(await store.holders([V3], ['finished'], c.id)).toEqual([]);
  });

  it('lists campaigns by state and id, and marks logged events', async () => {
    const running = await store.campaigns({ states: ['running'], limit: 100 });
    expect(running.length).toBeGreaterThan(0);
    expect(running.every((c) => c.state === 'running')).toBe(true);
    const drafts = await store.campaigns({ states: ['draft'], limit: 100 });
    expect(drafts.map((c) => c.name)).toEqual(['c1']);
    const firstTwo = await store.campaigns({ limit: 2 });
    expect((await store.campaigns({ after: firstTwo[1]!.id, limit: 100 }))[0]!.id).toBeGreaterThan(
      firstTwo[1]!.id,
    );
    const unlogged = await store.unloggedEvents(1000);
    expect(unlogged.length).toBeGreaterThan(0);
    const first = unlogged[0]!;
    await store.setEventLogIndex(first.campaignId, first.seq, 7);
    const after = await store.unloggedEvents(1000);
    expect(after).toHaveLength(unlogged.length - 1);
    expect((await store.events(first.campaignId))[first.seq - 1]!.logIndex).toBe(7);
  });

  it('keeps the wave assignment time and acknowledged failures a transition sets', async () => {
    const c = await store.insertCampaign(draft(7), { kind: 'created', at: AT, detail: {} });
    const running = await store.transition(startWave(c, 1, []));
    const stopped = await store.transition({
      campaignId: c.id,
      expectedVersion: running.version,
      state: 'stopped',
      wave: 1,
      reason: 'FAILURE_THRESHOLD',
      at: LATER,
      event: { kind: 'stopped', at: LATER, detail: {} },
      waveAssigned: 1,
      acknowledge: { wave: 1, failures: 4 },
    });
    expect(stopped).toMatchObject({ state: 'stopped', reason: 'FAILURE_THRESHOLD', version: 3 });
    expect(await store.waves(c.id)).toEqual([
      expect.objectContaining({ assignedAt: LATER, acknowledgedFailures: 4, memberCount: 0 }),
    ]);
  });
});
