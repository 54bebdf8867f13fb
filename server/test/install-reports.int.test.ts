// The hacker replays vehicles' public install reports, edited in every way the signature does
// not cover, and sends reports with counters that went backwards.
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment */
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  createVehicleCsr,
  createVehicleIdentity,
  generateKeyPair,
  issueVehicleCertificateFromCsr,
  signFirmwareAttestation,
  type SerializedBundle,
  type Signer,
  type VehicleCa,
  type VehicleIdentity,
} from '@tufchain/keys';
import { formatVerifierKey, runAuditCli, type InstallPredicate } from '@tufchain/transparency';
import { canonicalize } from '@tufjs/canonical-json';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installReports } from '../src/console/install-reports.js';
import {
  createApiToken,
  initRepository,
  openServerLog,
  startServer,
  type OpenedRepository,
  type RunningServer,
  type ServerLog,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository, testEngine } from './support/database.js';
import { signInstallStatement } from './support/install-report.js';

const ORIGIN = 'tufchain.test/install-reports';
const HARDWARE_ID = 'gateway-v7';
const IMAGE_NAME = 'gw-7.0.0.img';
// Built here independently of the code under test: the order of P-256 and a DER writer.
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function derInteger(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** (r, s) -> (r, n - s): the other signature over the same message. */
function twinSignature(sigB64: string): string {
  const b = Buffer.from(sigB64, 'base64');
  const rLen = b[3] ?? 0;
  const r = BigInt(`0x${b.subarray(4, 4 + rLen).toString('hex')}`);
  const sLen = b[5 + rLen] ?? 0;
  const s = BigInt(`0x${b.subarray(6 + rLen, 6 + rLen + sLen).toString('hex')}`);
  const body = Buffer.concat([derInteger(r), derInteger(P256_N - s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64');
}

/** Same bytes, other base64: the unused low bits of the last symbol set. */
function withTrailingBits(b64: string): string {
  const at = b64.length - (/=*$/.exec(b64)?.[0].length ?? 0) - 1;
  return `${b64.slice(0, at)}${B64[B64.indexOf(b64[at]!) ^ 1]}${b64.slice(at + 1)}`;
}

/** The base64 fields of a report bundle, first the padded ones. */
function base64Fields(b: Json): { get: () => string; set: (v: string) => void }[] {
  return [
    {
      get: () => b.dsseEnvelope.signatures[0].sig as string,
      set: (v: string) => (b.dsseEnvelope.signatures[0].sig = v),
    },
    {
      get: () => b.dsseEnvelope.payload as string,
      set: (v: string) => (b.dsseEnvelope.payload = v),
    },
    {
      get: () => b.verificationMaterial.certificate.rawBytes as string,
      set: (v: string) => (b.verificationMaterial.certificate.rawBytes = v),
    },
  ].sort((x, y) => Number(y.get().endsWith('=')) - Number(x.get().endsWith('=')));
}

/** Reorders every object's keys (last first): the same JSON value in other bytes. */
function reorderKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorderKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reorderKeys(x)]),
    );
  return v;
}

interface Answer {
  status: number;
  body: {
    id?: number;
    logIndex?: number;
    duplicate?: boolean;
    error?: { code: string };
  };
}

describe('install report intake against replays (anvil, SQLite, HTTP, the real verifier)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let log: ServerLog;
  let ca: VehicleCa;
  let release: { metadataVersion: number; metadataHash: string };
  const noteKey = generateKeyPairSync('ed25519');
  const firmware = ed();
  const image = new TextEncoder().encode('gateway 7.0.0 image bytes');
  let rootFile: string;
  let vinSerial = 200;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-install-reports-'));
    repo = await openTestRepository({ dataDir: dir });
    ca = await createVehicleCa({ commonName: 'Replay Test Vehicle CA' });
    const writer = chain.writer();
    const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
    const { rootBytes } = await initRepository({
      store: repo.store,
      rootSigners: [ed()],
      threshold: 1,
      onlineSigners: online,
      releaseLog: writer,
    });
    rootFile = join(dir, '1.root.json');
    await writeFile(rootFile, rootBytes);
    await writeFile(join(dir, 'vehicle-ca.pem'), ca.certificatePem);
    log = await openServerLog({
      dataDir: dir,
      origin: ORIGIN,
      noteKey: noteKey.privateKey,
      anchoring: {
        signer: chain.operator(),
        contractAddress: chain.contractAddress,
        chainId: chain.chain.chainId,
        fromBlock: chain.deployBlock,
        config: { confirmations: 1, pollIntervalMs: 20, intervalMs: 100, batchSize: 1 },
      },
      logger: pino({ level: 'silent' }),
    });
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
        vehicleCaPem: ca.certificatePem,
        transparencyLog: log,
        config: { resignIntervalMs: 0 },
      },
    });
    const { token } = await createApiToken(repo.store, { name: 'ci', scopes: ['publish'] });
    const auth = { authorization: `Bearer ${token}` };
    const put = await fetch(`${server.url}/api/v1/firmware/${IMAGE_NAME}`, {
      method: 'PUT',
      headers: auth,
      body: image,
    });
    expect(put.status).toBe(201);
    const claims = { hardwareIds: [HARDWARE_ID], version: '7.0.0', releaseCounter: 7 };
    const attestation = await signFirmwareAttestation(
      { name: IMAGE_NAME, sha256: sha256(image), ...claims },
      firmware,
    );
    const published = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [{ name: IMAGE_NAME, ...claims, attestation }] }),
    });
    expect(published.status).toBe(201);
    release = ((await published.json()) as { release: typeof release }).release;
  });

  afterAll(async () => {
    await server?.close();
    await log?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function newVehicle(): Promise<VehicleIdentity> {
    vinSerial += 1;
    return createVehicleIdentity(ca, {
      vin: `WVWZZZ1JZXW000${vinSerial}`,
      ecuSerial: `GW-${vinSerial}`,
    });
  }

  /** A report the vehicle signs itself, of the published release. */
  async function signedReport(
    vehicle: VehicleIdentity,
    counter: number,
    edit: (p: InstallPredicate) => void = () => {},
  ): Promise<SerializedBundle> {
    const block = await chain.provider.getBlock('latest');
    const digest = sha256(image);
    const predicate: InstallPredicate = {
      vehicle: { commitment: vehicle.vinCommitment },
      ecu: { serial: vehicle.ecuSerial, hardwareId: HARDWARE_ID },
      from: null,
      to: { name: IMAGE_NAME, version: '7.0.0', releaseCounter: 7, digest },
      result: 'SUCCESS',
      startedAt: new Date(Date.now() - 60_000 + counter).toISOString(),
      finishedAt: new Date(Date.now() + counter).toISOString(),
      odometerKm: 1000 + counter,
      counter,
      metadata: { targetsVersion: release.metadataVersion, targetsHash: release.metadataHash },
      checkpoint: {
        chainId: chain.chain.chainId,
        blockNumber: block!.number,
        blockHash: block!.hash!,
        timestamp: block!.timestamp,
      },
    };
    edit(predicate);
    return signInstallStatement(
      predicate,
      createKeySigner(vehicle.privateKey),
      vehicle.certificatePem,
    );
  }

  async function send(body: string | object): Promise<Answer> {
    const res = await fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  }

  async function listed(): Promise<unknown[]> {
    const res = await fetch(`${server.url}/api/v1/attestations`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { attestations: unknown[] }).attestations;
  }

  /** `tufchain audit` (its code, in process) over the server's public routes, with the log. */
  async function audit(): Promise<{ exitCode: number; codes: string[]; stderr: string }> {
    await log.anchors!.flush(20_000);
    const out: string[] = [];
    const err: string[] = [];
    const exitCode = await runAuditCli(
      [
        '--server',
        server.url,
        '--rpc',
        chain.chain.rpcUrl,
        '--contract',
        chain.contractAddress,
        '--from-block',
        String(chain.deployBlock),
        '--trusted-root',
        rootFile,
        '--vehicle-ca',
        join(dir, 'vehicle-ca.pem'),
        '--log-key',
        formatVerifierKey(ORIGIN, noteKey.publicKey),
        '--log-origin',
        ORIGIN,
        '--json',
      ],
      { stdout: (l) => out.push(l), stderr: (l) => err.push(l) },
    );
    const codes =
      exitCode === 2
        ? []
        : (JSON.parse(out.join('\n')) as { findings: { code: string }[] }).findings.map(
            (f) => f.code,
          );
    return { exitCode, codes, stderr: err.join('\n') };
  }

  describe("when a vehicle's public report is replayed, altered where the signature does not reach", () => {
    let vehicle: VehicleIdentity;
    let honest: SerializedBundle;
    let first: Answer['body'];

    beforeAll(async () => {
      vehicle = await newVehicle();
      honest = await signedReport(vehicle, 1);
      const answer = await send(honest);
      expect(answer.status).toBe(201);
      first = answer.body;
      expect(first.logIndex).toBeGreaterThan(0);
    });

    const refused = 'REPORT_NOT_CANONICAL';
    it.each<{
      desc: string;
      replay: (b: Json, v: VehicleIdentity) => Promise<string | Json> | string | Json;
      want: { status: number; code: string } | 'the same report';
    }>([
      {
        desc: 'an extra top-level field holding control characters',
        replay: (b) => ({ ...b, note: 'replay\u0000\u0001\u001f' }),
        want: { status: 422, code: refused },
      },
      {
        desc: 'an extra field in the DSSE envelope',
        replay: (b) => ({ ...b, dsseEnvelope: { ...b.dsseEnvelope, replay: 1 } }),
        want: { status: 422, code: refused },
      },
      {
        desc: 'an extra field in the verification material',
        replay: (b) => ({
          ...b,
          verificationMaterial: { ...b.verificationMaterial, replay: true },
        }),
        want: { status: 422, code: refused },
      },
      {
        desc: 'a DSSE keyid added',
        replay: (b) => {
          b.dsseEnvelope.signatures[0].keyid = 'replay-1';
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'an empty DSSE keyid written out',
        replay: (b) => {
          b.dsseEnvelope.signatures[0].keyid = '';
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'the high-s twin of its ECDSA signature (r, n - s)',
        replay: (b) => {
          b.dsseEnvelope.signatures[0].sig = twinSignature(
            b.dsseEnvelope.signatures[0].sig as string,
          );
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'a newline inside the base64 payload',
        replay: (b) => {
          const p = b.dsseEnvelope.payload as string;
          b.dsseEnvelope.payload = `${p.slice(0, 76)}\n${p.slice(76)}`;
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'its base64 padding left out',
        replay: (b) => {
          const f = base64Fields(b)[0]!;
          f.set(f.get().replace(/=+$/, ''));
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'extra base64 padding',
        replay: (b) => {
          b.dsseEnvelope.signatures[0].sig = `${b.dsseEnvelope.signatures[0].sig as string}==`;
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'base64 with non-zero trailing bits',
        replay: (b) => {
          const f = base64Fields(b)[0]!;
          if (!f.get().endsWith('=')) throw new Error('no padded field to alter');
          f.set(withTrailingBits(f.get()));
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'the URL-safe base64 alphabet',
        replay: (b) => {
          const raw = b.verificationMaterial.certificate.rawBytes as string;
          b.verificationMaterial.certificate.rawBytes = raw.replace(/\+/g, '-').replace(/\//g, '_');
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'an empty RFC 3161 timestamp list',
        replay: (b) => {
          b.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [] };
          return b;
        },
        want: { status: 422, code: refused },
      },
      {
        desc: 'the certificate as a one-element chain',
        replay: (b) => {
          b.verificationMaterial = {
            x509CertificateChain: { certificates: [b.verificationMaterial.certificate] },
          };
          return b;
        },
        want: { status: 422, code: 'INSTALL_ATTESTATION_INVALID' },
      },
      { desc: 'nothing changed', replay: (b) => b, want: 'the same report' },
      {
        desc: 'other JSON whitespace',
        replay: (b) => JSON.stringify(b, null, 3),
        want: 'the same report',
      },
      {
        desc: 'its JSON keys in another order',
        replay: (b) => JSON.stringify(reorderKeys(b)),
        want: 'the same report',
      },
      {
        desc: "another certificate of the vehicle's key (a renewal)",
        replay: async (b, v) => {
          const csr = await createVehicleCsr(v.privateKey, v);
          const renewed = await issueVehicleCertificateFromCsr(ca, csr, { validDays: 30 });
          b.verificationMaterial.certificate.rawBytes = new X509Certificate(renewed).raw.toString(
            'base64',
          );
          return b;
        },
        want: 'the same report',
      },
    ])('answers $desc with $want', async ({ replay, want }) => {
      const size = await log.log.size();
      const count = (await listed()).length;
      const body = await replay(JSON.parse(JSON.stringify(honest)) as Json, vehicle);
      const answer = await send(body);
      if (want === 'the same report') {
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({
          id: first.id,
          logIndex: first.logIndex,
          duplicate: true,
        });
      } else {
        expect([answer.status, answer.body.error?.code]).toEqual([want.status, want.code]);
      }
      expect(await log.log.size()).toBe(size);
      expect(await listed()).toHaveLength(count);
    });

    it('leaves a history in which the auditor finds no counter reuse, nor any duplicate', async () => {
      const { exitCode, codes, stderr } = await audit();
      expect(codes).not.toContain('ATTESTATION_COUNTER_REUSED');
      expect(codes).not.toContain('ATTESTATION_DUPLICATED');
      expect([exitCode, codes], stderr).toEqual([0, []]);
    });
  });

  describe('report counters', () => {
    it('refuses a report whose counter is not above the last accepted one, and keeps an exact resend idempotent', async () => {
      const vehicle = await newVehicle();
      const size = await log.log.size();
      const third = await signedReport(vehicle, 3);
      const accepted = await send(third);
      expect(accepted.status).toBe(201);
      for (const stale of [await signedReport(vehicle, 2), await signedReport(vehicle, 1)]) {
        const answer = await send(stale);
        expect([answer.status, answer.body.error?.code]).toEqual([409, 'REPORT_COUNTER_REPLAYED']);
      }
      // A different report (another odometer) under the same counter is a replay as well.
      const sameCounter = await signedReport(vehicle, 3, (p) => (p.odometerKm = 99_999));
      const reused = await send(sameCounter);
      expect([reused.status, reused.body.error?.code]).toEqual([409, 'REPORT_COUNTER_REPLAYED']);
      const resent = await send(third);
      expect(resent.status).toBe(200);
      expect(resent.body).toMatchObject({ id: accepted.body.id, duplicate: true });
      expect((await send(await signedReport(vehicle, 4))).status).toBe(201);
      expect(await log.log.size()).toBe(size + 2);
    });

    it('refuses a report naming an ECU serial shaped like a VIN with 422 PERSONAL_DATA_REJECTED, storing and logging nothing (its signed payload would put the serial in the log in clear)', async () => {
      vinSerial += 1;
      const vehicle = await createVehicleIdentity(ca, {
        vin: `WVWZZZ1JZXW000${vinSerial}`,
        ecuSerial: 'WAUZZZ8K9BA012345',
      });
      const size = await log.log.size();
      const before = (await listed()).length;
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const answer = await send(await signedReport(vehicle, 1));
        expect([answer.status, answer.body.error?.code]).toEqual([422, 'PERSONAL_DATA_REJECTED']);
      }
      expect(await log.log.size()).toBe(size);
      expect((await listed()).length).toBe(before);
    });

    it('counts per ECU: another vehicle starts from its own counter', async () => {
      const a = await newVehicle();
      const b = await newVehicle();
      expect((await send(await signedReport(a, 9))).status).toBe(201);
      expect((await send(await signedReport(b, 1))).status).toBe(201);
    });
  });

  describe('the install path (delta or full) in the report', () => {
    it('keeps it when sent, accepts a report without it (older agents), and refuses a malformed one with 422 INSTALL_PATH_MALFORMED, storing nothing', async () => {
      const vehicle = await newVehicle();
      const path = { path: 'full', fallback: { code: 'DELTA_BASE_MISMATCH' }, networkBytes: 25 };
      const withPath = await send(
        await signedReport(vehicle, 1, (p) => (p.install = path as never)),
      );
      expect(withPath.status).toBe(201);
      expect((await send(await signedReport(vehicle, 2))).status).toBe(201);
      const before = (await listed()).length;
      const bad = await send(
        await signedReport(vehicle, 3, (p) => (p.install = { path: 'delta', networkBytes: -1 })),
      );
      expect([bad.status, bad.body.error?.code]).toEqual([422, 'INSTALL_PATH_MALFORMED']);
      expect((await listed()).length).toBe(before);
      const stored = (await installReports(repo.store)).filter(
        (r) => r.vinCommitment === vehicle.vinCommitment.toLowerCase().replace(/^0x/, ''),
      );
      expect(stored.map((r) => r.install)).toEqual([path, undefined]);
    });
  });

  describe('when text the vehicle or a client sends holds control characters', () => {
    it('keeps a signed report with control characters, lone surrogates and U+2028 readable everywhere', async () => {
      const vehicle = await newVehicle();
      const weird = await signedReport(vehicle, 1, (p) => {
        p.ecu.hardwareId = `${HARDWARE_ID}\u0000\u0007\u001f\u2028\u2029`;
        p.to.version = '7.0.0\ud800';
      });
      const answer = await send(weird);
      expect(answer.status).toBe(201);
      const stored = (await listed()).at(-1);
      expect(stored).toEqual(weird);
      const size = await log.log.size();
      const res = await fetch(`${server.url}/api/v1/log/entries?start=0&end=${size}`);
      expect(res.status).toBe(200);
      const { entries } = (await res.json()) as { entries: string[] };
      for (const entry of entries) {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(entry, 'base64'));
        expect(() => JSON.parse(text) as unknown).not.toThrow();
      }
      const { exitCode, codes, stderr } = await audit();
      expect([exitCode, codes], stderr).toEqual([0, []]);
    });

    // Only SQLite servers existed before the fix, so there is no such PostgreSQL row to read back.
    it.runIf(testEngine() === 'sqlite')(
      'still lists and audits a row a server stored before the fix as invalid JSON (SQLite only: no PostgreSQL server predates the fix)',
      async () => {
        // What servers before the fix stored for a replayed report with a control character in an
        // extra field: OLPC canonical JSON, which JSON.parse refuses. Written straight into SQLite.
        const vehicle = await newVehicle();
        const bundle = { ...(await signedReport(vehicle, 1)), note: 'a\u0001b' };
        const legacy = canonicalize(bundle);
        expect(() => JSON.parse(legacy) as unknown).toThrow();
        const db = new DatabaseSync(join(dir, 'tufchain.sqlite'));
        try {
          db.prepare(
            `INSERT INTO install_attestations (bundle_sha256, bundle_json, vin_commitment, ecu_serial, target_name, result, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            sha256(legacy),
            legacy,
            vehicle.vinCommitment,
            vehicle.ecuSerial,
            IMAGE_NAME,
            'SUCCESS',
            new Date().toISOString(),
          );
        } finally {
          db.close();
        }
        const all = await listed();
        expect(all.at(-1)).toEqual(bundle);
        const page = await fetch(`${server.url}/api/v1/attestations?afterId=0&limit=2`);
        expect(page.status).toBe(200);
        const { exitCode, codes, stderr } = await audit();
        expect(exitCode, stderr).not.toBe(2);
        expect(stderr).not.toContain('AUDIT_SOURCE_UNAVAILABLE');
        // The row never reached the log: the audit says so, and nothing else.
        expect(codes).toEqual(['ATTESTATION_NOT_IN_LOG']);
      },
    );
  });
});
