/**
 * The fleet simulator (scripts/fleet-sim) against a real campaign server on loopback: in process
 * with a seeded random source, its summary must equal what the campaign API counts from the
 * signed reports it received; and as the `npm run fleet:sim` script, a child process that stops
 * by itself and refuses out-of-bounds options.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleetSim, type FleetSimSummary } from '../scripts/fleet-sim/run.js';
import {
  HW,
  IMAGE,
  startCampaignServer,
  until,
  type CampaignServer,
  type CampaignView,
} from './support/campaign-server.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const VEHICLES = 30;

/** mulberry32: a seeded random source, so a run's choices are the same every time. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let s: CampaignServer;

beforeAll(async () => {
  s = await startCampaignServer({ vehicles: 1 });
}, 120_000);

afterAll(async () => {
  await s?.close();
});

describe('the fleet simulator', () => {
  it('drives a campaign with signed reports, and its summary is what the API counts', async () => {
    let campaignId = 0;
    const summary: FleetSimSummary = await runFleetSim(
      {
        serverUrl: s.server.url,
        enrollToken: s.tokens.enroll,
        vehicles: VEHICLES,
        hardwareId: HW,
        failureRate: 0.2,
        deferralRate: 0.15,
        // A bound, not the run's length: on a loaded machine 8 s left a vehicle short of its
        // report (29 of 30); each vehicle stops once it has reported.
        seconds: 40,
        untilReported: true,
        pollMs: 200,
        firstIndex: 1000,
        random: seeded(15),
      },
      async (fleet) => {
        const group = await s.call<{ id: number }>('POST', '/api/v1/fleet/groups', {
          token: s.tokens.fleet,
          body: {
            name: 'simulated',
            definition: { kind: 'static', vehicles: fleet.map((v) => v.vinCommitment) },
          },
        });
        expect(group.status).toBe(201);
        const created = await s.call('POST', '/api/v1/campaigns', {
          body: {
            name: 'sim rollout',
            groupId: group.body.id,
            release: [{ hardwareId: HW, name: IMAGE.name }],
            waves: [{ percent: 100, minSoakSeconds: 0, successPercent: 100 }],
            failureThreshold: { count: 1000 },
            maxDeferrals: 10,
          },
        });
        expect(created.status).toBe(201);
        campaignId = created.body.id;
        expect((await s.call('POST', `/api/v1/campaigns/${campaignId}/start`)).status).toBe(200);
      },
    );
    expect(summary.errors).toEqual({});
    // Polling every ~200 ms until the 40 s bound would be ~200 polls a vehicle.
    expect(summary.polls).toBeLessThan(VEHICLES * 40);
    expect(summary.assignmentsSeen).toBe(VEHICLES);
    expect(summary.succeeded + summary.failed).toBe(VEHICLES);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.deferrals).toBeGreaterThan(0);
    const counts = await until('the API counts every report', async () => {
      const c = (await s.call<CampaignView>('GET', `/api/v1/campaigns/${campaignId}`)).body;
      const n = c.waves[0]!.counts;
      return n.succeeded + n.failed === VEHICLES ? n : undefined;
    });
    expect(counts).toMatchObject({
      members: VEHICLES,
      succeeded: summary.succeeded,
      failed: summary.failed,
    });
  }, 90_000);

  const script = (args: string[]) =>
    run(
      `${root}node_modules/.bin/tsx`,
      ['--conditions=@tufchain/source', 'server/scripts/fleet-sim.ts', ...args],
      { cwd: root, timeout: 60_000 },
    );

  it('as npm run fleet:sim: enrolls, polls, stops by itself and prints its summary', async () => {
    const started = Date.now();
    const { stdout } = await script([
      '--server',
      s.server.url,
      '--token',
      s.tokens.enroll,
      '--vehicles',
      '3',
      '--seconds',
      '2',
      '--poll-ms',
      '200',
      '--first-index',
      '2000',
      '--json',
    ]);
    const summary = JSON.parse(stdout) as FleetSimSummary;
    expect(summary).toMatchObject({ vehicles: 3, seconds: 2, errors: {} });
    expect(summary.polls).toBeGreaterThanOrEqual(3);
    expect(summary.commitments).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(45_000);
  }, 60_000);

  it.each([
    { desc: 'no token', args: ['--vehicles', '3'] },
    { desc: 'too many vehicles', args: ['--token', 't', '--vehicles', '5001'] },
    { desc: 'a rate above 1', args: ['--token', 't', '--failure-rate', '1.5'] },
    { desc: 'an endless run', args: ['--token', 't', '--seconds', '100000'] },
  ])(
    'refuses $desc with exit code 2 before enrolling anyone',
    async ({ args }) => {
      const failed = await script(['--server', s.server.url, ...args]).then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toMatch(/^\[fleet:sim\] /);
    },
    60_000,
  );
});
