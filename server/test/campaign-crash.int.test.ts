/**
 * Crash recovery of the campaign engine on real parts (the engine's store on the project's
 * engine, the Director with its keys, the transparency log): a store that dies at one chosen call,
 * before or after it reaches the database, stands for the process dying there; a fresh service over
 * the same database stands for the restart. After each, every vehicle has exactly one assignment,
 * none is skipped, and the log holds every state change once.
 */
import { createHash } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { campaignCorrelationId } from '../src/campaigns/assign.js';
import { CampaignService } from '../src/campaigns/service.js';
import type { CampaignStore } from '../src/campaigns/store.js';
import type { TransparencyLogSink } from '../src/log-sink.js';
import {
  createServerParts,
  openServerLog,
  type ServerLog,
  type ServerParts,
} from '../src/index.js';
import { initTestDirector } from './support/campaign-fleet.js';
import { createTestRepo, uploadAndPublish, type TestRepo } from './support/fixtures.js';

const VEHICLES = 40;
const HW = 'gw-c1';
const IMAGE = 'gw-c1-2.0.img';
const silent = pino({ level: 'silent' });

let t: TestRepo;
let log: ServerLog;
let parts: ServerParts;
let groupId: number;

class Crash extends Error {}

/** The store, but the `nth` call of `method` dies before or after reaching the database. */
function crashingStore(
  store: CampaignStore,
  method: keyof CampaignStore,
  nth: number,
  when: 'before' | 'after',
): { store: CampaignStore; died: () => boolean } {
  let calls = 0;
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (key !== method || typeof value !== 'function') {
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      }
      return async (...args: unknown[]) => {
        calls += 1;
        if (calls === nth && when === 'before') throw new Crash(`died before ${method} #${nth}`);
        const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(
          target,
          args,
        );
        if (calls === nth) throw new Crash(`died after ${method} #${nth}`);
        return result;
      };
    },
  });
  return { store: proxy, died: () => calls >= nth };
}

const service = (store: CampaignStore, assignBatch?: number) =>
  new CampaignService({
    ...(assignBatch === undefined ? {} : { assignBatch }),
    store,
    fleet: parts.context.fleet!,
    director: parts.context.director!,
    clock: () => new Date(),
    logger: silent,
    log,
  });

beforeAll(async () => {
  t = await createTestRepo();
  const director = await initTestDirector(t.repo.director);
  log = await openServerLog({
    dataDir: t.dir,
    origin: 'tufchain.test/campaign-crash',
    noteKey: generateKeyPairSync('ed25519').privateKey,
    logger: silent,
  });
  parts = createServerParts({
    ...t.deps,
    director: { store: t.repo.director, signers: director },
    campaigns: t.repo.campaigns,
    transparencyLog: log,
  });
  t.parts = parts;
  const published = await uploadAndPublish(t, { name: IMAGE, hardwareIds: [HW] });
  expect(published.status).toBe(201);
  const vehicles: string[] = [];
  for (let i = 0; i < VEHICLES; i++) {
    const vehicle = createHash('sha256').update(`crash vehicle ${i}`).digest('hex');
    vehicles.push(vehicle);
    await t.repo.director.appendInventory(
      {
        vehicle,
        registration: {
          primary_ecu_serial: `GW-${i}`,
          ecus: [
            {
              ecu_serial: `GW-${i}`,
              hardware_identifier: HW,
              primary: true,
              clientKey: {
                keytype: 'ed25519',
                scheme: 'ed25519',
                keyval: { public: 'ab'.repeat(32) },
              },
            },
          ],
        },
        signerSerial: '01',
        createdAt: new Date().toISOString(),
      },
      0,
    );
  }
  const group = await parts.context.fleet!.createGroup(
    { name: 'crash-fleet', definition: { kind: 'static', vehicles } },
    'token:t',
  );
  groupId = group.id;
}, 60_000);

afterEach(async () => {
  // Each case's campaign leaves its assignments active: free the vehicles for the next case.
  for (const a of await t.repo.director.assignments({ status: 'active' })) {
    await parts.context.director!.cancel(a.id);
  }
});

afterAll(async () => {
  await log?.close();
  await t?.cleanup();
});

async function campaignEntriesInLog(urn: string): Promise<number[]> {
  const size = await log.log.size();
  const seqs: number[] = [];
  for (let start = 0; start < size; start += 100) {
    const { entries } = await log.entries(start, Math.min(size, start + 100));
    for (const e of entries) {
      const doc = JSON.parse(Buffer.from(e, 'base64').toString('utf8')) as {
        type: string;
        campaign?: string;
        seq?: number;
      };
      if (doc.type === 'campaign' && doc.campaign === urn) seqs.push(doc.seq!);
    }
  }
  return seqs;
}

describe('a campaign that dies at one step and restarts', () => {
  it.each([
    {
      desc: 'after the Director assigned a vehicle, before the campaign recorded it',
      method: 'markAssigned',
      nth: 5,
      when: 'before',
    },
    { desc: 'right after recording an assignment', method: 'markAssigned', nth: 17, when: 'after' },
    {
      desc: 'after a wave start committed, before its event was logged',
      method: 'transition',
      nth: 3,
      when: 'after',
    },
    {
      desc: 'before a transition reached the database',
      method: 'transition',
      nth: 2,
      when: 'before',
    },
    {
      desc: 'after an event was appended to the log, before its index was recorded',
      method: 'setEventLogIndex',
      nth: 4,
      when: 'before',
    },
    {
      desc: 'while reading the pending vehicles of a wave',
      method: 'pendingVehicles',
      nth: 3,
      when: 'before',
    },
  ] as const)(
    '$desc: assigns every vehicle once and logs every change once',
    async ({ method, nth, when }) => {
      const clean = service(t.repo.campaigns);
      const created = await clean.create(
        {
          name: `crash ${method} ${nth} ${when}`,
          groupId,
          release: [{ hardwareId: HW, name: IMAGE }],
          waves: [25, 50, 100].map((percent) => ({
            percent,
            minSoakSeconds: 0,
            successPercent: 0,
          })),
          failureThreshold: { percent: null, count: 1000 },
          maxDeferrals: 3,
        },
        'token:t',
      );
      const crashing = crashingStore(t.repo.campaigns, method, nth, when);
      const dying = service(crashing.store);
      try {
        await dying.start(created.id, 'token:t');
        for (let i = 0; i < 20; i++) await dying.advance(created.id);
      } catch (error) {
        if (!(error instanceof Crash)) throw error;
      }
      // flushEvents logs and swallows a failure (the next tick retries): such a crash is not thrown.
      expect(crashing.died()).toBe(true);

      const restarted = service(t.repo.campaigns);
      let state = (await restarted.campaign(created.id)).state;
      if (state === 'draft') await restarted.start(created.id, 'token:t');
      for (let i = 0; i < 20 && state !== 'finished'; i++) {
        await restarted.advanceAll();
        state = (await restarted.campaign(created.id)).state;
      }
      expect(state).toBe('finished');

      const urn = created.urn;
      const assignments = (await t.repo.director.assignments({})).filter((a) =>
        a.correlationId.startsWith(`${urn}:`),
      );
      expect(assignments).toHaveLength(VEHICLES);
      expect(new Set(assignments.map((a) => a.vehicle)).size).toBe(VEHICLES);
      const status = await restarted.status(created.id);
      expect(status.counts.map((c) => c.members)).toEqual([10, 10, 20]);
      expect(status.counts.reduce((n, c) => n + c.assigned, 0)).toBe(VEHICLES);

      const events = await restarted.events(created.id);
      expect(events.map((e) => e.kind)).toEqual([
        'created',
        'wave-started',
        'wave-assigned',
        'wave-started',
        'wave-assigned',
        'wave-started',
        'wave-assigned',
        'finished',
      ]);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(events.every((e) => e.logIndex !== null)).toBe(true);
      expect(await campaignEntriesInLog(urn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    },
  );
});

describe('a process that died after the Director recorded an assignment, before it signed the targets', () => {
  it('gives the vehicle targets listing it on its next poll, and the campaign counts it once', async () => {
    const clean = service(t.repo.campaigns);
    const created = await clean.create(
      {
        name: 'died before signing',
        groupId,
        release: [{ hardwareId: HW, name: IMAGE }],
        waves: [{ percent: 100, minSoakSeconds: 0, successPercent: 0 }],
        failureThreshold: { percent: null, count: 1000 },
        maxDeferrals: 3,
      },
      'token:t',
    );
    await clean.start(created.id, 'token:t');
    const [first] = await t.repo.campaigns.pendingVehicles(created.id, 1, 1);
    const vehicle = first!.vehicle;
    const director = parts.context.director!;
    // The vehicle polled before: its targets list no assignment.
    await director.refreshVehicle(vehicle);
    const before = (await director.repository.metadata(vehicle, 'targets'))!;
    // What the crash left: the assignment row (as assign() inserts it), no new targets signed.
    const image = await director.resolveImage(IMAGE, HW);
    const serial = (await t.repo.director.latestInventory(vehicle))!.registration.ecus[0]!
      .ecu_serial;
    const made = await t.repo.director.insertAssignment({
      vehicle,
      correlationId: campaignCorrelationId(created, vehicle),
      atomic: false,
      status: 'active',
      images: [{ ...image, ecuSerial: serial }],
      createdBy: `campaign:${created.id}`,
      createdAt: new Date().toISOString(),
    });
    expect((await director.repository.metadata(vehicle, 'targets'))?.version).toBe(before.version);

    // The restart: the campaign finds the assignment by its correlation ID instead of making one.
    const restarted = service(t.repo.campaigns);
    for (let i = 0; i < 10; i++) {
      if ((await restarted.advance(created.id)).state === 'finished') break;
    }
    expect((await restarted.campaign(created.id)).state).toBe('finished');
    const ours = (await t.repo.director.assignments({ vehicle })).filter((a) =>
      a.correlationId.startsWith(`${created.urn}:`),
    );
    expect(ours.map((a) => a.id)).toEqual([made.id]);
    // The vehicle's next poll (timestamp.json) signs targets that list its assignment.
    await director.refreshVehicle(vehicle);
    const targets = (await director.repository.metadata(vehicle, 'targets'))!;
    expect(targets.version).toBeGreaterThan(before.version);
    const signed = JSON.parse(Buffer.from(targets.bytes).toString('utf8')) as {
      signed: { custom: { correlationId: string }; targets: Record<string, unknown> };
    };
    expect(signed.signed.custom.correlationId).toBe(made.correlationId);
    expect(Object.keys(signed.signed.targets)).toEqual([IMAGE]);
    // Polling again changes nothing more.
    await director.refreshVehicle(vehicle);
    expect((await director.repository.metadata(vehicle, 'targets'))!.version).toBe(targets.version);
  });
});

describe('a failure reported while a wave is still being assigned', () => {
  it('stops the campaign between two batches: the rest of the wave is not assigned until resumed', async () => {
    const clean = service(t.repo.campaigns);
    const created = await clean.create(
      {
        name: 'mid-wave stop',
        groupId,
        release: [{ hardwareId: HW, name: IMAGE }],
        waves: [{ percent: 100, minSoakSeconds: 0, successPercent: 0 }],
        failureThreshold: { percent: null, count: 1 },
        maxDeferrals: 3,
      },
      'token:t',
    );
    // The 5th vehicle assigned reports a verified failure at once.
    let assigned = 0;
    const reporting = new Proxy(t.repo.campaigns, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (key !== 'markAssigned') return value.bind(target) as unknown;
        return async (...args: Parameters<CampaignStore['markAssigned']>) => {
          const done = await target.markAssigned(...args);
          assigned += 1;
          if (assigned === 5) {
            await t.repo.store.insertAttestation({
              reportSha256: 'f'.repeat(64),
              counter: 1,
              bundleSha256: 'e'.repeat(64),
              bundleJson: '{}',
              vinCommitment: args[1],
              ecuSerial: 'GW',
              targetName: IMAGE,
              result: 'FAILURE',
              receivedAt: new Date().toISOString(),
            });
          }
          return done;
        };
      },
    });
    const batched = service(reporting, 10);
    await batched.start(created.id, 'token:t');
    const stopped = await batched.advance(created.id);
    expect(stopped).toMatchObject({ state: 'stopped' });
    expect(stopped.reason).toMatch(/^FAILURE_THRESHOLD: wave 1 has 1 failures of 10 assigned/);
    const status = await batched.status(created.id);
    expect(status.counts[0]).toMatchObject({ members: VEHICLES, assigned: 10, assigning: 30 });
    expect(await batched.advance(created.id)).toMatchObject({ state: 'stopped' });
    expect((await batched.status(created.id)).counts[0]!.assigned).toBe(10);

    await batched.resume(created.id, 'token:t');
    let state = 'running';
    for (let i = 0; i < 10 && state !== 'finished'; i++) {
      state = (await batched.advance(created.id)).state;
    }
    expect(state).toBe('finished');
    expect((await batched.status(created.id)).counts[0]).toMatchObject({
      assigned: VEHICLES,
      failed: 1,
    });
  });
});

describe("a log that refuses one campaign's events", () => {
  it("logs the other campaigns' events meanwhile, and the refused ones on a later flush", async () => {
    let refuse = '';
    const picky = {
      appendCampaignEvent: (
        entry: Parameters<NonNullable<TransparencyLogSink['appendCampaignEvent']>>[0],
      ) =>
        entry.campaign === refuse
          ? Promise.reject(new Error('log unavailable for this one'))
          : log.appendCampaignEvent(entry),
    } as unknown as TransparencyLogSink;
    const withPickyLog = new CampaignService({
      store: t.repo.campaigns,
      fleet: parts.context.fleet!,
      director: parts.context.director!,
      clock: () => new Date(),
      logger: silent,
      log: picky,
    });
    const input = (name: string) => ({
      name,
      groupId,
      release: [{ hardwareId: HW, name: IMAGE }],
      waves: [{ percent: 100, minSoakSeconds: 0, successPercent: 0 }],
      failureThreshold: { percent: null, count: 1 },
      maxDeferrals: 3,
    });
    const a = await service(t.repo.campaigns).create(input('refused for now'), 'token:t');
    refuse = a.urn;
    // An event of A waits in the outbox ahead of B's.
    await withPickyLog.cancel(a.id, 'test', 'token:t');
    const b = await withPickyLog.create(input('logged'), 'token:t');
    expect((await withPickyLog.events(a.id)).map((e) => e.logIndex !== null)).toEqual([
      true,
      false,
    ]);
    expect((await withPickyLog.events(b.id)).map((e) => e.logIndex !== null)).toEqual([true]);
    refuse = '';
    await withPickyLog.flushEvents();
    expect((await withPickyLog.events(a.id)).every((e) => e.logIndex !== null)).toBe(true);
    expect(await campaignEntriesInLog(a.urn)).toEqual([1, 2]);
  });
});
