/**
 * Cancel and rollback through a real server on loopback (support/campaign-server.ts) with 12
 * simulated vehicles, real per-vehicle keys and real signed version manifests: campaign A gives
 * every vehicle gw 1.0.0, campaign B gw 2.0.0 to some of them before it is cancelled (its open
 * assignments with it), and the rollback of B gives exactly those back gw 1.0.0. Vehicles that ran
 * different images before roll back through one campaign per previous release set.
 */
import { auditCampaigns, type LoggedDirectorTargets } from '@tufchain/transparency';
import type { CampaignLogEntry } from '@tufchain/transparency/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { createApiToken } from '../src/index.js';
import {
  directorAssignment,
  enrollSimulatedVehicle,
  sendVersionManifest,
  type DirectorImage,
  type SimulatedVehicle,
} from './support/campaign-fleet.js';
import {
  HW,
  IMAGE,
  MID_IMAGE,
  OLD_IMAGE,
  sha256,
  startCampaignServer,
  until,
  type CallOptions,
  type CampaignServer,
  type CampaignView,
  type EventView,
} from './support/campaign-server.js';

const FLEET = 12;
/** Vehicles of campaign B that install gw 2.0.0 before it is cancelled. */
const UPDATED = 8;

let s: CampaignServer;
let fleet: SimulatedVehicle[] = [];

const call = <T = CampaignView>(method: string, path: string, opts?: CallOptions) =>
  s.call<T>(method, path, opts);

const body = (name: string, image: string, groupId = s.groupId) => ({
  name,
  groupId,
  release: [{ hardwareId: HW, name: image }],
  // Each waits for all of its vehicles before it finishes.
  waves: [{ percent: 100, minSoakSeconds: 0, successPercent: 100 }],
  failureThreshold: { percent: 50 },
});

async function campaign(id: number): Promise<CampaignView> {
  const got = await call('GET', `/api/v1/campaigns/${id}`);
  expect(got.status).toBe(200);
  return got.body;
}

async function events(id: number): Promise<EventView[]> {
  return (await call<{ events: EventView[] }>('GET', `/api/v1/campaigns/${id}/events`)).body.events;
}

/** Starts a draft and waits until its single wave is assigned: what each vehicle was assigned. */
async function startAndAssign(
  id: number,
  vehicles: readonly SimulatedVehicle[] = fleet,
): Promise<Map<SimulatedVehicle, DirectorImage>> {
  expect((await call('POST', `/api/v1/campaigns/${id}/start`)).status).toBe(200);
  await until(`campaign ${id} assigned`, async () => {
    const c = await campaign(id);
    return c.waves[0]?.assignedAt ? c : undefined;
  });
  const assigned = new Map<SimulatedVehicle, DirectorImage>();
  for (const v of vehicles) {
    const image = await directorAssignment(s.server.url, v);
    if (image) assigned.set(v, image);
  }
  return assigned;
}

/** The vehicle installs what it was assigned and says so in a signed version manifest. */
async function install(v: SimulatedVehicle, image: DirectorImage): Promise<void> {
  v.running = { name: image.name, sha256: image.sha256 };
  const res = await sendVersionManifest(s.server.url, v, {
    correlationId: image.correlationId!,
    code: 'OK',
    success: true,
  });
  expect(res.status, await res.text()).toBeLessThan(300);
}

beforeAll(async () => {
  s = await startCampaignServer({ vehicles: FLEET });
  fleet = s.fleet;
}, 120_000);

afterAll(async () => {
  await s?.close();
});

describe('cancel and rollback of a campaign', () => {
  let a = 0;
  let b = 0;
  let rollbackId = 0;
  const updated: SimulatedVehicle[] = [];

  it('campaign A installs gw 1.0.0 on every vehicle and finishes', async () => {
    const created = await call('POST', '/api/v1/campaigns', { body: body('A', OLD_IMAGE.name) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    a = created.body.id;
    const assigned = await startAndAssign(a);
    expect(assigned.size).toBe(FLEET);
    for (const [v, image] of assigned) await install(v, image);
    await until('A finished', async () =>
      (await campaign(a)).state === 'finished' ? true : undefined,
    );
  });

  it('refuses to roll back a campaign whose vehicles ran nothing known before it', async () => {
    const got = await call('POST', `/api/v1/campaigns/${a}/rollback`, { body: {} });
    expect([got.status, got.code]).toEqual([422, 'ROLLBACK_PREVIOUS_UNKNOWN']);
  });

  it('campaign B: some vehicles install gw 2.0.0; a cancel cancels the others’ open assignments', async () => {
    const created = await call('POST', '/api/v1/campaigns', { body: body('B', IMAGE.name) });
    expect(created.status).toBe(201);
    b = created.body.id;
    const assigned = await startAndAssign(b);
    expect(assigned.size).toBe(FLEET);
    const running = await call('POST', `/api/v1/campaigns/${b}/rollback`, { body: {} });
    expect([running.status, running.code]).toEqual([409, 'CAMPAIGN_STATE_INVALID']);
    for (const [v, image] of [...assigned].slice(0, UPDATED)) {
      expect(image.name).toBe(IMAGE.name);
      await install(v, image);
      updated.push(v);
    }
    await until('B counts the installs', async () =>
      (await campaign(b)).waves[0]!.counts.succeeded === UPDATED ? true : undefined,
    );
    const cancelled = await call('POST', `/api/v1/campaigns/${b}/cancel`, {
      body: { reason: 'gw 2.0.0 drains the battery' },
    });
    expect(cancelled.body).toMatchObject({ state: 'cancelled' });
    for (const v of fleet) {
      // The updated keep what they installed; the others' assignment is gone from their targets.
      expect(await directorAssignment(s.server.url, v)).toBeUndefined();
    }
    expect(await s.repo.director.assignments({ status: 'active' })).toEqual([]);
    const swept = (await events(b)).filter((e) => e.event === 'assignments-cancelled');
    expect(swept).toHaveLength(1);
    expect(swept[0]!.detail.count).toBe(FLEET - UPDATED);
    expect((await campaign(b)).waves[0]!.counts).toMatchObject({
      succeeded: UPDATED,
      cancelled: FLEET - UPDATED,
    });
  });

  it.each([
    {
      desc: 'an unknown campaign',
      id: () => 987654,
      req: {},
      status: 404,
      code: 'CAMPAIGN_NOT_FOUND',
    },
    {
      desc: 'waves that do not reach 100',
      id: () => b,
      req: { waves: [{ percent: 50 }] },
      status: 400,
      code: 'CAMPAIGN_WAVES_INVALID',
    },
    {
      desc: 'an unknown field',
      id: () => b,
      req: { group: 1 },
      status: 400,
      code: 'INVALID_REQUEST',
    },
  ])('refuses the rollback of $desc with $status $code', async ({ id, req, status, code }) => {
    const got = await call('POST', `/api/v1/campaigns/${id()}/rollback`, { body: req });
    expect([got.status, got.code]).toEqual([status, code]);
  });

  it('refuses to roll back a cancelled draft that updated nobody', async () => {
    const draft = await call('POST', '/api/v1/campaigns', { body: body('draft', IMAGE.name) });
    expect(draft.status).toBe(201);
    await call('POST', `/api/v1/campaigns/${draft.body.id}/cancel`, { body: { reason: 'no' } });
    const got = await call('POST', `/api/v1/campaigns/${draft.body.id}/rollback`, { body: {} });
    expect([got.status, got.code]).toEqual([422, 'ROLLBACK_NOTHING_UPDATED']);
  });

  it('the rollback of B gives exactly the vehicles B updated gw 1.0.0 back, logged on both', async () => {
    const made = await call<{ campaigns: CampaignView[] }>(
      'POST',
      `/api/v1/campaigns/${b}/rollback`,
      { body: {} },
    );
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    // Every updated vehicle ran gw 1.0.0 before: one rollback campaign.
    expect(made.body.campaigns).toHaveLength(1);
    const created = { body: made.body.campaigns[0]! };
    const original = await campaign(b);
    expect(created.body).toMatchObject({ state: 'draft', name: 'rollback of B' });
    expect(created.body.release).toEqual([
      {
        hardwareId: HW,
        name: OLD_IMAGE.name,
        sha256: sha256(OLD_IMAGE.bytes),
        length: OLD_IMAGE.bytes.length,
      },
    ]);
    rollbackId = created.body.id;
    const [createdEvent] = await events(rollbackId);
    expect(createdEvent!.detail.rollbackOf).toBe(original.urn);
    const marked = (await events(b)).filter((e) => e.event === 'rollback-created');
    expect(marked).toHaveLength(1);
    expect(marked[0]!.detail).toMatchObject({
      rollbackCampaign: created.body.urn,
      vehicleCount: UPDATED,
    });
    expect(marked[0]!.logIndex).toEqual(expect.any(Number));

    const assigned = await startAndAssign(rollbackId);
    expect([...assigned.keys()].sort((x, y) => x.index - y.index)).toEqual(updated);
    for (const [v, image] of assigned) {
      expect(image).toMatchObject({ name: OLD_IMAGE.name, sha256: sha256(OLD_IMAGE.bytes) });
      await install(v, image);
    }
    await until('the rollback finished', async () =>
      (await campaign(rollbackId)).state === 'finished' ? true : undefined,
    );
    expect((await campaign(rollbackId)).waves[0]!.counts).toMatchObject({
      members: UPDATED,
      succeeded: UPDATED,
    });
  });

  it('tufchain campaign rollback rolls the rollback back (to gw 2.0.0), --json', async () => {
    const out: string[] = [];
    const code = await runCli(['campaign', 'rollback', String(rollbackId), '--json'], {
      env: { server: s.server.url, token: s.tokens.campaigns },
      io: {
        stdout: (line) => void out.push(line),
        stderr: () => undefined,
        stderrRaw: () => undefined,
        stderrIsTty: false,
      },
      fetch,
    });
    expect(code).toBe(0);
    const again = JSON.parse(out.join('\n')) as { campaigns: CampaignView[] };
    expect(again.campaigns).toHaveLength(1);
    expect(again.campaigns[0]).toMatchObject({
      state: 'draft',
      release: [{ hardwareId: HW, name: IMAGE.name }],
    });
  });

  it('the auditor finds the logged campaigns uniform and covered, and finds a tampered copy out', async () => {
    const entries: unknown[] = [];
    for (let start = 0, step = 256; step >= 1;) {
      const got = await fetch(
        `${s.server.url}/api/v1/log/entries?start=${start}&end=${start + step}`,
      );
      if (got.status !== 200) {
        step = Math.floor(step / 2);
        continue;
      }
      for (const e of ((await got.json()) as { entries: string[] }).entries) {
        entries.push(JSON.parse(Buffer.from(e, 'base64').toString('utf8')));
      }
      start += step;
    }
    const campaigns = entries.filter(
      (e): e is CampaignLogEntry => (e as { type?: string }).type === 'campaign',
    );
    const targets = entries.filter(
      (e): e is LoggedDirectorTargets => (e as { type?: string }).type === 'director-targets',
    );
    const urns = new Map<string, readonly string[]>();
    for (const id of [a, b, rollbackId]) {
      const c = await campaign(id);
      const members = id === rollbackId ? updated : fleet;
      urns.set(c.urn, members.map((v) => v.vinCommitment).sort());
    }
    const snapshots = new Map(
      [...urns].map(([urn, members]) => [urn, new Map([[1, members]])] as const),
    );
    const audit = (over: { entries?: CampaignLogEntry[]; targets?: LoggedDirectorTargets[] }) => {
      const codes: string[] = [];
      const summary = auditCampaigns({
        entries: over.entries ?? campaigns,
        directorTargets: over.targets ?? targets,
        installs: [],
        snapshots,
        report: (f) => codes.push(f.code),
      });
      return { codes, summary };
    };
    const clean = audit({});
    expect(clean.codes).toEqual([]);
    expect(clean.summary).toMatchObject({
      wavesRecomputed: 3,
      campaignAssignments: 2 * FLEET + UPDATED,
    });
    const dropped = campaigns.filter((e) => !(e.event === 'cancelled'));
    expect(audit({ entries: dropped }).codes).toContain('CAMPAIGN_EVENTS_GAP');
    const assigned = targets.findIndex((t) => t.images.length > 0);
    const forged = targets.map((t, i) =>
      i === assigned
        ? { ...t, images: t.images.map((img) => ({ ...img, sha256: 'f'.repeat(64) })) }
        : t,
    );
    expect(audit({ targets: forged }).codes).toEqual(['CAMPAIGN_WAVE_NOT_UNIFORM']);
  });

  it('splits the rollback of vehicles that ran different images before: one uniform campaign per previous release set, created together and linked', async () => {
    // Three vehicles: two ran gw 1.0.0, one gw 1.5.0, before a campaign gave all three gw 2.0.0.
    const trio = await Promise.all(
      [3000, 3001, 3002].map((index) =>
        enrollSimulatedVehicle({
          serverUrl: s.server.url,
          factoryToken: s.tokens.enroll,
          dir: s.dir,
          index,
          hardwareId: HW,
        }),
      ),
    );
    const before = new Map([
      [trio[0]!, OLD_IMAGE],
      [trio[1]!, MID_IMAGE],
      [trio[2]!, OLD_IMAGE],
    ]);
    // Explicit single-vehicle assignments first.
    const { token } = await createApiToken(s.repo.store, {
      name: 'director',
      scopes: ['director:assign'],
    });
    for (const [v, image] of before) {
      const made = await call('POST', '/api/v1/director/assignments', {
        token,
        body: { vehicle: v.vinCommitment, images: [{ ecuSerial: v.ecuSerial, name: image.name }] },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      await install(v, (await directorAssignment(s.server.url, v))!);
    }
    const group = await call<{ id: number }>('POST', '/api/v1/fleet/groups', {
      token: s.tokens.fleet,
      body: {
        name: 'trio',
        definition: { kind: 'static', vehicles: trio.map((v) => v.vinCommitment) },
      },
    });
    const created = await call('POST', '/api/v1/campaigns', {
      body: body('trio to 2.0.0', IMAGE.name, group.body.id),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const original = created.body;
    const assigned = await startAndAssign(original.id, trio);
    expect(assigned.size).toBe(3);
    for (const [v, image] of assigned) await install(v, image);
    await until('the trio campaign finished', async () =>
      (await campaign(original.id)).state === 'finished' ? true : undefined,
    );

    const got = await call<{ campaigns: CampaignView[] }>(
      'POST',
      `/api/v1/campaigns/${original.id}/rollback`,
      { body: {} },
    );
    expect(got.status, JSON.stringify(got.body)).toBe(201);
    const rollbacks = got.body.campaigns;
    expect(rollbacks).toHaveLength(2);
    const byImage = new Map(rollbacks.map((r) => [(r.release[0] as { name: string }).name, r]));
    expect([...byImage.keys()].sort()).toEqual([MID_IMAGE.name, OLD_IMAGE.name].sort());
    for (const r of rollbacks) {
      expect(r).toMatchObject({ state: 'draft' });
      expect(r.release).toHaveLength(1);
    }
    // Linked both ways: each `created` names the original and its cohort, the original logs each.
    const cohorts = [];
    for (const r of rollbacks) {
      const [first] = await events(r.id);
      expect(first!.detail).toMatchObject({ rollbackOf: original.urn, rollbackCohorts: 2 });
      cohorts.push(first!.detail.rollbackCohort);
    }
    expect(cohorts.sort()).toEqual([1, 2]);
    const marked = (await events(original.id)).filter((e) => e.event === 'rollback-created');
    expect(marked.map((e) => e.detail.rollbackCampaign).sort()).toEqual(
      rollbacks.map((r) => r.urn).sort(),
    );
    expect(marked.map((e) => e.detail.vehicleCount).sort()).toEqual([1, 2]);

    // Started together (their vehicles are disjoint: no overlap), each cohort is uniform: every
    // vehicle gets back exactly what it ran before, from the campaign of its cohort.
    for (const r of rollbacks) {
      expect((await call('POST', `/api/v1/campaigns/${r.id}/start`)).status).toBe(200);
    }
    for (const r of rollbacks) {
      await until(`rollback ${r.id} assigned`, async () =>
        (await campaign(r.id)).waves[0]?.assignedAt ? true : undefined,
      );
    }
    for (const v of trio) {
      const image = (await directorAssignment(s.server.url, v))!;
      const was = before.get(v)!.name;
      expect(image.name).toBe(was);
      expect(image.correlationId).toBe(`${byImage.get(was)!.urn}:${v.vinCommitment}`);
      await install(v, image);
    }
    for (const r of rollbacks) {
      await until(`rollback ${r.id} finished`, async () =>
        (await campaign(r.id)).state === 'finished' ? true : undefined,
      );
      expect((await campaign(r.id)).waves[0]!.counts).toMatchObject({
        members: r.id === byImage.get(OLD_IMAGE.name)!.id ? 2 : 1,
        succeeded: r.id === byImage.get(OLD_IMAGE.name)!.id ? 2 : 1,
      });
    }
  });
});
