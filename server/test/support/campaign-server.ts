/**
 * A campaign server on real parts, for the campaign integration tests: SQLite (or PostgreSQL in
 * server-postgres), the Director with its online keys, the transparency log, the real
 * install-report verifier, one release (a gateway and a brake image), and enrolled simulated
 * vehicles with their own keys (support/campaign-fleet.ts). The background step runs on the
 * server's own timer (every 100 ms), as the leader's job does in production.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
} from '@tufchain/keys';
import { pino } from 'pino';
import {
  createApiToken,
  initRepository,
  openServerLog,
  startServer,
  type OpenedRepository,
  type RunningServer,
  type ServerLog,
} from '../../src/index.js';
import {
  enrollSimulatedVehicle,
  initTestDirector,
  type SimulatedVehicle,
} from './campaign-fleet.js';
import { openTestRepository } from './database.js';
import { MemoryReleaseLog } from './fixtures.js';

export const HW = 'gw-x1';
export const BRAKE_HW = 'brk-b2';
export const IMAGE = { name: 'gw-2.0.0.img', bytes: Buffer.from('gateway image 2.0.0') };
/** What the gateway ran before IMAGE (release counter 1): what a rollback gives back. */
export const OLD_IMAGE = { name: 'gw-1.0.0.img', bytes: Buffer.from('gateway image 1.0.0') };
/** Another earlier gateway image: vehicles that ran OLD_IMAGE or this one roll back apart. */
export const MID_IMAGE = { name: 'gw-1.5.0.img', bytes: Buffer.from('gateway image 1.5.0') };
export const BRAKE_IMAGE = { name: 'brk-1.1.0.bin', bytes: Buffer.from('brake image 1.1.0') };
/** The origin of the test server's transparency log checkpoints. */
export const LOG_ORIGIN = 'tufchain.test/campaigns';
export const sha256 = (b: Uint8Array | string): string =>
  createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);

export interface Answer<T> {
  status: number;
  body: T;
  code: string | undefined;
}

export interface WaveView {
  wave: number;
  startedAt: string | null;
  assignedAt: string | null;
  acknowledgedFailures: number;
  counts: Record<
    'members' | 'assigned' | 'succeeded' | 'failed' | 'skipped' | 'deferred' | 'retriesExhausted',
    number
  >;
}

export interface CampaignView {
  id: number;
  urn: string;
  salt: string;
  state: string;
  wave: number;
  reason: string | null;
  version: number;
  release: unknown[];
  waves: WaveView[];
}

export interface EventView {
  seq: number;
  event: string;
  logIndex: number;
  detail: Record<string, unknown>;
}

export interface CallOptions {
  /** Default: the campaigns token; null: none. */
  token?: string | null;
  body?: unknown;
  raw?: string;
}

export interface CampaignServer {
  dir: string;
  repo: OpenedRepository;
  log: ServerLog;
  server: RunningServer;
  /** Verifies the log's checkpoints. */
  noteKey: KeyObject;
  /** The vehicle CA's certificate (PEM) the server trusts. */
  vehicleCaPem: string;
  tokens: Record<'publish' | 'enroll' | 'fleet' | 'campaigns', string>;
  /** Vehicles with one ECU (HW), in the group `groupId`. */
  fleet: SimulatedVehicle[];
  /** Two vehicles with a brake ECU (BRAKE_HW) besides the gateway, in no group. */
  mixed: SimulatedVehicle[];
  groupId: number;
  call<T = CampaignView>(method: string, path: string, opts?: CallOptions): Promise<Answer<T>>;
  close(): Promise<void>;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expectStatus(what: string, status: number, want: number): void {
  if (status !== want) throw new Error(`${what}: ${status}, expected ${want}`);
}

export async function startCampaignServer(opts: {
  vehicles: number;
  /** Where releases are logged (a chain writer for a full audit); default: in memory. */
  releaseLog?: Parameters<typeof initRepository>[0]['releaseLog'];
}): Promise<CampaignServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-campaigns-'));
  const repo = await openTestRepository({ dataDir: dir });
  const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
  const firmware = ed();
  const vehicleCa = await createVehicleCa({ commonName: 'Campaign Test Vehicle CA' });
  const releaseLog = opts.releaseLog ?? new MemoryReleaseLog();
  await initRepository({
    store: repo.store,
    rootSigners: [ed()],
    threshold: 1,
    onlineSigners: online,
    releaseLog,
  });
  const director = await initTestDirector(repo.director);
  const noteKey = generateKeyPairSync('ed25519');
  const log = await openServerLog({
    dataDir: dir,
    origin: LOG_ORIGIN,
    noteKey: noteKey.privateKey,
    logger: pino({ level: 'silent' }),
  });
  const server = await startServer({
    port: 0,
    deps: {
      store: repo.store,
      blobs: repo.blobs,
      signers: online,
      releaseLog,
      firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
      vehicleCa,
      transparencyLog: log,
      director: { store: repo.director, signers: director, lock: repo.directorLock },
      fleet: repo.fleet,
      campaigns: repo.campaigns,
      jobLease: repo.jobLease,
      logger: pino({ level: process.env.CAMPAIGN_TEST_LOG ?? 'silent' }),
      config: { resignIntervalMs: 100 },
    },
  });
  const tokens = { publish: '', enroll: '', fleet: '', campaigns: '' };
  for (const scope of ['publish', 'enroll', 'fleet', 'campaigns'] as const) {
    tokens[scope] = (await createApiToken(repo.store, { name: scope, scopes: [scope] })).token;
  }
  const call = async <T = CampaignView>(
    method: string,
    path: string,
    o: CallOptions = {},
  ): Promise<Answer<T>> => {
    const token = o.token === undefined ? tokens.campaigns : o.token;
    const text = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(text === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(text === undefined ? {} : { body: text }),
    });
    const body = (await res.json()) as T & { error?: { code?: string } };
    return { status: res.status, body, code: body.error?.code };
  };
  const targets = [];
  for (const [image, hardwareId] of [
    [IMAGE, HW],
    [BRAKE_IMAGE, BRAKE_HW],
    [OLD_IMAGE, HW],
    [MID_IMAGE, HW],
  ] as const) {
    const put = await fetch(`${server.url}/api/v1/firmware/${image.name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.publish}` },
      body: image.bytes,
    });
    expectStatus(`upload ${image.name}`, put.status, 201);
    const claims =
      image === OLD_IMAGE || image === MID_IMAGE
        ? { hardwareIds: [hardwareId], version: '1.0.0', releaseCounter: 1 }
        : { hardwareIds: [hardwareId], version: '2.0.0', releaseCounter: 2 };
    const attestation = await signFirmwareAttestation(
      { name: image.name, sha256: sha256(image.bytes), ...claims },
      firmware,
    );
    targets.push({ name: image.name, ...claims, attestation });
  }
  const published = await call<unknown>('POST', '/api/v1/releases', {
    token: tokens.publish,
    body: { targets },
  });
  expectStatus('publish', published.status, 201);
  const enroll = (index: number, secondaries?: { serial: string; hardwareId: string }[]) =>
    enrollSimulatedVehicle({
      serverUrl: server.url,
      factoryToken: tokens.enroll,
      dir,
      index,
      hardwareId: HW,
      ...(secondaries ? { secondaries } : {}),
    });
  const fleet: SimulatedVehicle[] = [];
  for (let i = 0; i < opts.vehicles; i += 20) {
    const batch = Math.min(20, opts.vehicles - i);
    fleet.push(...(await Promise.all(Array.from({ length: batch }, (_, k) => enroll(i + k)))));
  }
  const mixed = await Promise.all(
    [100_000, 100_001].map((i) => enroll(i, [{ serial: `BRK-${i}`, hardwareId: BRAKE_HW }])),
  );
  const group = await call<{ id: number }>('POST', '/api/v1/fleet/groups', {
    token: tokens.fleet,
    body: {
      name: `fleet-${opts.vehicles}`,
      definition: { kind: 'static', vehicles: fleet.map((v) => v.vinCommitment) },
    },
  });
  expectStatus('group', group.status, 201);
  return {
    dir,
    repo,
    log,
    server,
    noteKey: noteKey.publicKey,
    vehicleCaPem: vehicleCa.certificatePem,
    tokens,
    fleet,
    mixed,
    groupId: group.body.id,
    call,
    async close() {
      await server.close();
      await log.close();
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
