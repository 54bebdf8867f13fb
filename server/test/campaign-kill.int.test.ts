/**
 * kill -9 of the real server daemon (src/main.ts as its own process, on a real anvil and a real
 * database: the data dir's SQLite file, or PostgreSQL in the server-postgres project) at random
 * points of a running campaign, restarted each time on the same data. The vehicles are the fleet
 * simulator's (real per-vehicle keys, signed reports over HTTP), polling all along and riding out
 * the outages. While the daemon is down after each kill, the database is opened and checked: no
 * vehicle assigned twice, none skipped, the campaign's events gapless. Once it finished: every
 * targeted vehicle has exactly one assignment from the campaign, and the transparency log holds
 * every state change exactly once.
 *
 * The kill delays come from a seeded generator: the seed is printed, CAMPAIGN_KILL_SEED=… replays it.
 */
import { randomInt } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createKeySigner,
  finalizeRootCeremony,
  generateKeyPair,
  initRootCeremony,
  signRootCeremony,
  writeEncryptedKeyFile,
  type Signer,
} from '@tufchain/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cumulativeCount } from '../src/campaigns/waves.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { driveFleet, enrollFleet, type FleetSimSummary } from '../scripts/fleet-sim/run.js';
import { directorAssignment, type SimulatedVehicle } from '../scripts/fleet-sim/vehicle.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { newTestDatabaseUrl, testEngine } from './support/database.js';
import {
  prepareDaemon,
  spawnDaemon,
  waitReady,
  type DaemonFiles,
  type RunningDaemon,
} from './support/daemon.js';
import { publishOverHttp } from './support/publish-over-http.js';

const VEHICLES = Number(process.env.CAMPAIGN_KILL_VEHICLES ?? 100);
const HW = 'gw-k1';
const IMAGE = { name: 'gw-k1-2.0.img', bytes: Buffer.from('gateway image 2.0 for the kill test') };
/** Many short waves: each needs reports from the vehicles, so the campaign spans many restarts. */
const WAVES = [2, 5, 10, 20, 40, 60, 80, 100];
/** Kills that must land while the campaign runs; at most MAX_KILLS, within KILL_PHASE_MS. */
const MIN_KILLS = 8;
const MAX_KILLS = 12;
const KILL_PHASE_MS = 120_000;

const SEED = Number(process.env.CAMPAIGN_KILL_SEED ?? randomInt(2 ** 31));

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface WaveView {
  wave: number;
  startedAt: string | null;
  assignedAt: string | null;
  counts: Record<'members' | 'assigned' | 'succeeded' | 'failed' | 'skipped', number>;
}
interface CampaignView {
  id: number;
  urn: string;
  state: string;
  wave: number;
  version: number;
  waves: WaveView[];
}
interface EventView {
  seq: number;
  event: string;
  logIndex: number | null;
  detail: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`kill -9 of the server daemon during a campaign (${testEngine()}, seed ${SEED})`, () => {
  let chain: TestChain;
  let files: DaemonFiles;
  let env: Record<string, string>;
  let daemon: RunningDaemon | undefined;
  let databaseUrl: string | undefined;
  let token = '';
  let fleet: SimulatedVehicle[] = [];
  const random = seeded(SEED);

  const dataDir = () => env.TUFCHAIN_DATA_DIR!;
  const openData = (): Promise<OpenedRepository> =>
    openRepository({ dataDir: dataDir(), ...(databaseUrl ? { databaseUrl } : {}) });

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${files.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async function start(): Promise<void> {
    daemon = spawnDaemon(env);
    await waitReady(daemon, files.baseUrl);
  }

  async function kill(): Promise<void> {
    await daemon?.kill();
    daemon = undefined;
  }

  beforeAll(async () => {
    console.log(`campaign kill test: seed ${SEED} (CAMPAIGN_KILL_SEED=${SEED} replays it)`);
    chain = await startTestChain();
    files = await prepareDaemon(chain, 'tufchain.test/campaign-kill');
    const { dir, passphrase } = files;
    // The Director: its online keys and its root from the offline ceremony, as the daemon reads them.
    const keyFile = async (name: string): Promise<Signer> => {
      const { privateKey } = generateKeyPair('ed25519');
      await writeEncryptedKeyFile(join(dir, `${name}.key`), privateKey, passphrase);
      return createKeySigner(privateKey);
    };
    const online = {
      targets: await keyFile('director-targets'),
      snapshot: await keyFile('director-snapshot'),
      timestamp: await keyFile('director-timestamp'),
    };
    const rootKey = createKeySigner(generateKeyPair('ed25519').privateKey);
    let ceremony = initRootCeremony({
      root: { keys: [rootKey.publicKey], threshold: 1 },
      targets: { keys: [online.targets.publicKey], threshold: 1 },
      snapshot: { keys: [online.snapshot.publicKey], threshold: 1 },
      timestamp: { keys: [online.timestamp.publicKey], threshold: 1 },
      expires: new Date(Date.now() + 365 * 86_400_000),
    });
    ceremony = await signRootCeremony(ceremony, rootKey);
    await writeFile(
      join(dir, 'director-root.json'),
      JSON.stringify(finalizeRootCeremony(ceremony)),
    );
    // The vehicle CA's key turns enrollment on.
    await writeEncryptedKeyFile(
      join(dir, 'vehicle-ca.key'),
      files.vehicleCa.privateKey,
      passphrase,
    );
    databaseUrl = await newTestDatabaseUrl();
    env = {
      ...files.env,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      TUFCHAIN_LOG_LEVEL: 'warn',
      // The background job (which advances campaigns) ticks every 100 ms.
      TUFCHAIN_RESIGN_INTERVAL_MS: '100',
      TUFCHAIN_VEHICLE_CA_KEY_FILE: join(dir, 'vehicle-ca.key'),
      TUFCHAIN_DIRECTOR_TARGETS_KEY_FILES: join(dir, 'director-targets.key'),
      TUFCHAIN_DIRECTOR_SNAPSHOT_KEY_FILES: join(dir, 'director-snapshot.key'),
      TUFCHAIN_DIRECTOR_TIMESTAMP_KEY_FILES: join(dir, 'director-timestamp.key'),
      TUFCHAIN_DIRECTOR_ROOT_FILE: join(dir, 'director-root.json'),
    };
    await start();
    token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    await publishOverHttp(files.baseUrl, token, files.firmwareKey, {
      name: IMAGE.name,
      bytes: IMAGE.bytes,
      hardwareIds: [HW],
      version: '2.0.0',
      releaseCounter: 2,
    });
    fleet = await enrollFleet(
      {
        serverUrl: files.baseUrl,
        enrollToken: token,
        vehicles: VEHICLES,
        hardwareId: HW,
        firstIndex: 0,
      },
      join(dir, 'vehicles'),
    );
  }, 240_000);

  afterAll(async () => {
    await kill();
    await chain?.stop();
    if (files?.dir) await rm(files.dir, { recursive: true, force: true });
  });

  /**
   * What the database holds of the campaign, read while the daemon is down: every check that must
   * hold after any crash. Returns how many vehicles the Director assigned for it.
   */
  async function checkDatabase(c: CampaignView, members: ReadonlySet<string>): Promise<number> {
    const repo = await openData();
    try {
      const all = await repo.director.assignments({});
      // The campaign is the only source of assignments here: at most one per vehicle at all.
      expect(new Set(all.map((a) => a.vehicle)).size).toBe(all.length);
      const ours = all.filter((a) => a.correlationId.startsWith(`${c.urn}:`));
      expect(ours).toHaveLength(all.length);
      const vehicles = ours.map((a) => a.vehicle);
      // No vehicle assigned twice, none outside the fleet, each under its own correlation ID.
      expect(new Set(vehicles).size).toBe(vehicles.length);
      for (const a of ours) {
        expect(members.has(a.vehicle)).toBe(true);
        expect(a.correlationId).toBe(`${c.urn}:${a.vehicle}`);
      }
      const outcomes = await repo.campaigns.vehicleOutcomes(c.id);
      // None skipped; every vehicle the campaign recorded as assigned has that assignment.
      expect(outcomes.filter((o) => o.status === 'skipped')).toEqual([]);
      const inWaves = new Set(outcomes.map((o) => o.vehicle));
      expect(new Set(outcomes.map((o) => o.vehicle)).size).toBe(outcomes.length);
      for (const v of vehicles) expect(inWaves.has(v)).toBe(true);
      const recorded = outcomes.filter((o) => o.status === 'assigned');
      const byVehicle = new Map(ours.map((a) => [a.vehicle, a.id]));
      for (const o of recorded) expect(o.assignmentId).toBe(byVehicle.get(o.vehicle));
      // The campaign's events: seq 1, 2, … with no gap and no repeat, as many as its version.
      const record = await repo.campaigns.campaign(c.id);
      const events = await repo.campaigns.events(c.id);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.length).toBe(record!.version);
      const started = events.filter((e) => e.kind === 'wave-started').map((e) => e.detail.wave);
      expect(started).toEqual(started.map((_, i) => i + 1));
      return ours.length;
    } finally {
      await repo.close();
    }
  }

  it(
    'assigns every vehicle exactly once, skips none, and logs every state change once',
    async () => {
      const group = await call<{ id: number }>('POST', '/api/v1/fleet/groups', {
        name: 'kill-fleet',
        definition: { kind: 'static', vehicles: fleet.map((v) => v.vinCommitment) },
      });
      const created = await call<CampaignView>('POST', '/api/v1/campaigns', {
        name: 'gw 2.0 under kill -9',
        groupId: group.id,
        release: [{ hardwareId: HW, name: IMAGE.name }],
        // Short gates: a second of soak, and 100 % of the wave's vehicles reporting success.
        waves: WAVES.map((percent) => ({ percent, minSoakSeconds: 1, successPercent: 100 })),
        failureThreshold: { percent: 50 },
        maxDeferrals: 3,
      });
      const members = new Set(fleet.map((v) => v.vinCommitment));
      await call('POST', `/api/v1/campaigns/${created.id}/start`);

      // The fleet polls its Director targets and reports (signed) all along, outages included.
      const stopFleet = new AbortController();
      const driving: Promise<FleetSimSummary> = driveFleet(
        {
          serverUrl: files.baseUrl,
          enrollToken: token,
          vehicles: VEHICLES,
          hardwareId: HW,
          failureRate: 0,
          deferralRate: 0,
          seconds: 600,
          pollMs: 1500,
          firstIndex: 0,
          random: Math.random,
          signal: stopFleet.signal,
        },
        fleet,
      );

      const status = () => call<CampaignView>('GET', `/api/v1/campaigns/${created.id}`);
      const kills: {
        afterMs: number;
        state: string;
        wave: number;
        assigned: number;
        restartMs: number;
      }[] = [];
      const phaseEnd = Date.now() + KILL_PHASE_MS;
      try {
        while (kills.length < MAX_KILLS && Date.now() < phaseEnd) {
          const before = await status();
          if (before.state === 'finished') break;
          expect(before.state).toBe('running');
          // A random point: anywhere from the first tick after the start to a few waves on.
          // On PostgreSQL a restarted daemon first waits out the dead one's background lease (1 s).
          const afterMs = Math.floor(random() * 1200) + (testEngine() === 'postgres' ? 1000 : 0);
          await sleep(afterMs);
          await kill();
          const assigned = await checkDatabase(before, members);
          const restartAt = Date.now();
          await start();
          // And through the API once it is back: nothing skipped, nothing assigned beyond a wave.
          const after = await status();
          expect(['running', 'finished']).toContain(after.state);
          for (const w of after.waves) {
            expect(w.counts.skipped).toBe(0);
            expect(w.counts.assigned).toBeLessThanOrEqual(w.counts.members);
          }
          kills.push({
            afterMs,
            state: before.state,
            wave: before.wave,
            assigned,
            restartMs: Date.now() - restartAt,
          });
        }
        console.log(
          `campaign kill test (seed ${SEED}): ${kills.length} kills ${JSON.stringify(kills)}`,
        );
        expect(kills.length).toBeGreaterThanOrEqual(MIN_KILLS);
        // Then it runs to its end undisturbed (slowly when the machine is busy).
        const deadline = Date.now() + 240_000;
        let last = await status();
        while (last.state !== 'finished') {
          expect(last.state).toBe('running');
          if (Date.now() > deadline) {
            // What the vehicles still waited on see, for the failure's message.
            stopFleet.abort();
            const seen = await driving;
            const waiting: unknown[] = [];
            for (const v of fleet) {
              const image = await directorAssignment(files.baseUrl, v).catch(
                (e: unknown) => `${String(e)}`,
              );
              if (v.running.name !== IMAGE.name) {
                waiting.push({ vehicle: v.vinCommitment, running: v.running.name, image });
              }
            }
            throw new Error(
              `not finished: ${JSON.stringify(last)}; fleet ${JSON.stringify({ ...seen, commitments: undefined })}; vehicles not updated ${JSON.stringify(waiting)}`,
            );
          }
          await sleep(200);
          last = await status();
        }
      } finally {
        stopFleet.abort();
      }
      const summary = await driving;
      expect(summary.failed).toBe(0);

      // Through the API: every targeted vehicle assigned once, in the wave sizes of the plan.
      const final = await status();
      const counts = final.waves.map((w) => w.counts);
      expect(counts.reduce((n, c) => n + c.members, 0)).toBe(VEHICLES);
      expect(counts.reduce((n, c) => n + c.assigned, 0)).toBe(VEHICLES);
      expect(counts.reduce((n, c) => n + c.skipped, 0)).toBe(0);
      expect(counts.map((c) => c.members)).toEqual(
        WAVES.map(
          (p, i) => cumulativeCount(VEHICLES, p) - cumulativeCount(VEHICLES, WAVES[i - 1] ?? 0),
        ),
      );
      const events = (
        await call<{ events: EventView[] }>('GET', `/api/v1/campaigns/${created.id}/events`)
      ).events;
      expect(events.map((e) => e.event)).toEqual([
        'created',
        ...WAVES.flatMap(() => ['wave-started', 'wave-assigned']),
        'finished',
      ]);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.every((e) => e.logIndex !== null)).toBe(true);

      // The transparency log: each of those state changes exactly once, at the index recorded.
      // The log's size: the largest n at which the empty range [n, n) is still inside it.
      const inside = async (n: number) =>
        (await fetch(`${files.baseUrl}/api/v1/log/entries?start=${n}&end=${n}`)).status === 200;
      let low = 0;
      let high = 1;
      while (await inside(high)) high *= 2;
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        if (await inside(mid)) low = mid;
        else high = mid;
      }
      const size = low;
      const logged: { seq: number; index: number }[] = [];
      for (let at = 0; at < size; at += 500) {
        const end = Math.min(size, at + 500);
        const page = await call<{ entries: string[] }>(
          'GET',
          `/api/v1/log/entries?start=${at}&end=${end}`,
        );
        page.entries.forEach((e, k) => {
          const doc = JSON.parse(Buffer.from(e, 'base64').toString('utf8')) as {
            type?: string;
            campaign?: string;
            seq?: number;
          };
          if (doc.type === 'campaign' && doc.campaign === final.urn) {
            logged.push({ seq: doc.seq!, index: at + k });
          }
        });
      }
      expect(logged.map((l) => l.seq)).toEqual(events.map((e) => e.seq));
      expect(logged.map((l) => l.index)).toEqual(events.map((e) => e.logIndex));

      // And the database, with the daemon down once more: exactly one assignment per vehicle.
      await kill();
      expect(await checkDatabase(final, members)).toBe(VEHICLES);
    },
    KILL_PHASE_MS + 360_000,
  );
});
