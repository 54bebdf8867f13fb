import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCa,
  createVehicleCsr,
  createVehicleIdentity,
  generateKeyPair,
  loadRevocationList,
  type SerializedBundle,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import { auditRepository, createHttpAuditSource, type AuditFinding } from '@tufchain/transparency';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository } from './support/database.js';
import { signSuccessReport } from './support/install-report.js';

const DAY = 24 * 60 * 60 * 1000;
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

interface Vehicle {
  privateKey: KeyObject;
  vinCommitment: string;
  ecuSerial: string;
  certificatePem: string;
  serialNumber: string;
}

interface ErrorBody {
  error: { code: string; message: string };
}

/** A vehicle enrollment server on real parts: anvil, SQLite, HTTP on port 0, an injected clock. */
describe('vehicle enrollment, revocation and the CRL (anvil, SQLite, HTTP)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let rootBytes: Uint8Array;
  let ca: VehicleCa;
  let firmwareSigner: Signer;
  const now = { value: new Date() };
  const tokens = { factory: '', publish: '', revoke: '' };
  let ecuCounter = 0;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-vehicles-int-'));
    repo = await openTestRepository({ dataDir: dir });
    const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
    const online = { targets: signer(), snapshot: signer(), timestamp: signer() };
    firmwareSigner = signer();
    // The CA predates every certificate the tests backdate.
    ca = await createVehicleCa({
      commonName: 'Test OEM Vehicle CA',
      notBefore: new Date(Date.now() - 6 * 365 * DAY),
      validDays: 20 * 365,
    });
    const writer = chain.writer({ confirmations: 1 });
    rootBytes = (
      await initRepository({
        store: repo.store,
        rootSigners: [signer(), signer()],
        threshold: 2,
        onlineSigners: online,
        releaseLog: writer,
      })
    ).rootBytes;
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: firmwareSigner.publicKeyPem(), keyId: firmwareSigner.keyId },
        vehicleCa: ca,
        vehicleEnrollment: {
          certificateValidDays: 365,
          renewBeforeDays: 30,
          reenrollGraceDays: 730,
        },
        clock: () => now.value,
        config: { resignIntervalMs: 0 },
      },
    });
    tokens.factory = (
      await createApiToken(repo.store, { name: 'line-4', scopes: ['enroll'] })
    ).token;
    tokens.publish = (await createApiToken(repo.store, { name: 'ci', scopes: ['publish'] })).token;
    tokens.revoke = (await createApiToken(repo.store, { name: 'soc', scopes: ['revoke'] })).token;
  });

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function post(path: string, body: unknown, token?: string): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async function codeOf(res: Response): Promise<string> {
    return ((await res.json()) as ErrorBody).error.code;
  }

  function newVehicleKey(): { privateKey: KeyObject; vinCommitment: string; ecuSerial: string } {
    ecuCounter += 1;
    return {
      privateKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
      vinCommitment: computeVinCommitment(
        `WVWZZZ1JZXW${String(100000 + ecuCounter)}`,
        randomBytes(32),
      ),
      ecuSerial: `GW-${String(ecuCounter).padStart(4, '0')}`,
    };
  }

  /** Enrolls a new vehicle with the factory token, with the server clock at `at`. */
  async function enroll(at: Date = new Date()): Promise<Vehicle> {
    const key = newVehicleKey();
    const csr = await createVehicleCsr(key.privateKey, key);
    now.value = at;
    try {
      const res = await post('/api/v1/vehicles/enroll', { csr }, tokens.factory);
      expect(res.status).toBe(201);
      const body = (await res.json()) as { certificate: string; serialNumber: string };
      return { ...key, certificatePem: body.certificate, serialNumber: body.serialNumber };
    } finally {
      now.value = new Date();
    }
  }

  async function installReport(
    vehicle: Pick<Vehicle, 'privateKey' | 'certificatePem' | 'vinCommitment' | 'ecuSerial'>,
    opts: { finishedAt?: Date; counter?: number } = {},
  ): Promise<SerializedBundle> {
    const digest = sha256(`gateway firmware for ${vehicle.ecuSerial} ${opts.counter ?? 1}`);
    const finishedAt = opts.finishedAt ?? new Date();
    return signSuccessReport({
      chain,
      vehicle,
      hardwareId: 'gw-rev3',
      to: { name: 'gateway-1.0.0.img', version: '1.0.0', releaseCounter: 1, digest },
      metadata: { targetsVersion: 1, targetsHash: `0x${'a'.repeat(64)}` },
      counter: opts.counter ?? 1,
      odometerKm: 1000 + (opts.counter ?? 1),
      startedAt: new Date(finishedAt.getTime() - 60_000),
      finishedAt,
    });
  }

  describe('POST /api/v1/vehicles/enroll', () => {
    it('issues a clientAuth certificate from the vehicle CA that binds the commitment and ECU serial', async () => {
      const key = newVehicleKey();
      const csr = await createVehicleCsr(key.privateKey, key);
      const res = await post('/api/v1/vehicles/enroll', { csr }, tokens.factory);
      expect(res.status).toBe(201);
      const body = (await res.json()) as {
        certificate: string;
        caCertificate: string;
        serialNumber: string;
        vinCommitment: string;
        ecuSerial: string;
        notAfter: string;
      };
      expect(body.vinCommitment).toBe(key.vinCommitment);
      expect(body.ecuSerial).toBe(key.ecuSerial);
      expect(body.caCertificate).toBe(ca.certificatePem);
      const cert = new X509Certificate(body.certificate);
      expect(cert.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
      expect(cert.subject).toContain(key.vinCommitment);
      expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(
        createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }),
      );
      expect(Date.parse(body.notAfter) - Date.now()).toBeGreaterThan(364 * DAY);
    });

    it.each([
      { desc: 'no token', token: undefined, status: 401, wantCode: 'UNAUTHENTICATED' },
      {
        desc: 'a forged token',
        token: `tct_0123456789abcdef_${'A'.repeat(43)}`,
        status: 401,
        wantCode: 'UNAUTHENTICATED',
      },
      {
        desc: 'a publish-only token',
        token: 'publish',
        status: 403,
        wantCode: 'INSUFFICIENT_SCOPE',
      },
    ])('refuses $desc with $status $wantCode', async ({ token, status, wantCode }) => {
      const key = newVehicleKey();
      const csr = await createVehicleCsr(key.privateKey, key);
      const res = await post(
        '/api/v1/vehicles/enroll',
        { csr },
        token === 'publish' ? tokens.publish : token,
      );
      expect(res.status).toBe(status);
      expect(await codeOf(res)).toBe(wantCode);
    });

    it.each([
      {
        desc: 'a body that is not JSON',
        body: () => Promise.resolve('not json'),
        wantCode: 'MALFORMED_JSON',
      },
      { desc: 'a missing csr', body: () => Promise.resolve({}), wantCode: 'INVALID_REQUEST' },
      {
        desc: 'garbage in PEM armor',
        body: () =>
          Promise.resolve({
            csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
          }),
        wantCode: 'CSR_MALFORMED',
      },
      {
        desc: 'a CSR whose signature was tampered with',
        body: async () => {
          const key = newVehicleKey();
          const der = Buffer.from(
            (await createVehicleCsr(key.privateKey, key))
              .replace(/-----[^-]+-----/g, '')
              .replace(/\s+/g, ''),
            'base64',
          );
          der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
          const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
          return {
            csr: `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`,
          };
        },
        wantCode: 'CSR_SIGNATURE_INVALID',
      },
      {
        desc: 'a CSR with a VIN in clear as its common name',
        body: async () => ({ csr: await rawCsr({ cn: 'WVWZZZ1JZXW000123', serial: 'GW-9' }) }),
        wantCode: 'VIN_IN_CLEAR',
      },
      {
        desc: 'a CSR with a VIN inside another subject attribute',
        body: async () => {
          const key = newVehicleKey();
          return {
            csr: await rawCsr({
              cn: key.vinCommitment,
              serial: key.ecuSerial,
              extra: 'vehicle WVWZZZ1JZXW000123',
            }),
          };
        },
        wantCode: 'VIN_IN_CLEAR',
      },
      {
        desc: 'a CSR without a VIN commitment',
        body: async () => ({ csr: await rawCsr({ cn: 'gateway', serial: 'GW-9' }) }),
        wantCode: 'CSR_SUBJECT_INVALID',
      },
      {
        desc: 'an Ed25519 CSR',
        body: async () => ({
          csr: await rawCsr({ cn: 'a'.repeat(64), serial: 'GW-9', ed25519: true }),
        }),
        wantCode: 'CSR_MALFORMED',
      },
    ])('refuses $desc with $wantCode and never a 500', async ({ body, wantCode }) => {
      const res = await post('/api/v1/vehicles/enroll', await body(), tokens.factory);
      expect(res.status).toBe(400);
      expect(await codeOf(res)).toBe(wantCode);
    });

    it('accepts a factory token minted through POST /api/v1/tokens with the enroll scope', async () => {
      const { token: admin } = await createApiToken(repo.store, { name: 'ops', scopes: ['admin'] });
      const minted = await post('/api/v1/tokens', { name: 'line-5', scopes: ['enroll'] }, admin);
      expect(minted.status).toBe(201);
      const { token } = (await minted.json()) as { token: string };
      const key = newVehicleKey();
      const csr = await createVehicleCsr(key.privateKey, key);
      expect((await post('/api/v1/vehicles/enroll', { csr }, token)).status).toBe(201);
      // the factory token can do nothing else
      const other = await post('/api/v1/tokens', { name: 'x', scopes: ['admin'] }, token);
      expect([other.status, await codeOf(other)]).toEqual([403, 'INSUFFICIENT_SCOPE']);
    });

    it('refuses a key already enrolled for another vehicle with 409 VEHICLE_KEY_REUSED', async () => {
      const vehicle = await enroll();
      const other = newVehicleKey();
      const csr = await createVehicleCsr(vehicle.privateKey, other);
      const res = await post('/api/v1/vehicles/enroll', { csr }, tokens.factory);
      expect(res.status).toBe(409);
      expect(await codeOf(res)).toBe('VEHICLE_KEY_REUSED');
    });

    it('lists the vehicle routes in the OpenAPI document', async () => {
      const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      for (const path of [
        '/api/v1/vehicles/enroll',
        '/api/v1/vehicles/reenroll',
        '/api/v1/vehicles/{serial}/revoke',
        '/api/v1/vehicles/crl',
        '/api/v1/vehicles/crl.pem',
      ]) {
        expect(doc.paths).toHaveProperty([path]);
      }
    });
  });

  describe('install reports (POST /api/v1/attestations)', () => {
    it('accepts a report from an enrolled vehicle', async () => {
      const vehicle = await enroll();
      const res = await post('/api/v1/attestations', await installReport(vehicle));
      expect(res.status).toBe(201);
      expect(await res.json()).not.toHaveProperty('certificateExpired');
    });

    it('refuses a certificate from another CA with 422 VEHICLE_UNKNOWN', async () => {
      const rogueCa = await createVehicleCa({ commonName: 'Test OEM Vehicle CA' });
      const identity = await createVehicleIdentity(rogueCa, {
        vin: 'WVWZZZ1JZXW000777',
        ecuSerial: 'GW-ROGUE',
      });
      const res = await post('/api/v1/attestations', await installReport(identity));
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe('VEHICLE_UNKNOWN');
    });

    it('checks the CA signature in full when the certificate is not byte for byte the enrolled one', async () => {
      // The enrollment record stands for the CA's signature only for the certificate it holds: the
      // enrolled serial with another signature must still be refused (keys' verifyRecordedVehicleCertificate).
      const vehicle = await enroll();
      const der = Buffer.from(new X509Certificate(vehicle.certificatePem).raw);
      der[der.length - 1]! ^= 0x01;
      const forged = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
      expect(new X509Certificate(forged).serialNumber.toLowerCase()).toBe(vehicle.serialNumber);
      const res = await post(
        '/api/v1/attestations',
        await installReport({ ...vehicle, certificatePem: forged }),
      );
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe('VEHICLE_UNKNOWN');
      expect(
        (await post('/api/v1/attestations', await installReport(vehicle, { counter: 2 }))).status,
      ).toBe(201);
    });

    it('refuses a certificate of this CA that was never enrolled with 422 VEHICLE_UNKNOWN', async () => {
      // Issued with the CA key outside the enrollment API (e.g. a leaked CA key or a stray tool).
      const identity = await createVehicleIdentity(ca, {
        vin: 'WVWZZZ1JZXW000778',
        ecuSerial: 'GW-STRAY',
      });
      const res = await post('/api/v1/attestations', await installReport(identity));
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe('VEHICLE_UNKNOWN');
    });
  });

  describe('when a vehicle is revoked', () => {
    let vehicle: Vehicle;
    let earlier: SerializedBundle;
    let revokedAt: string;

    beforeAll(async () => {
      vehicle = await enroll();
      // signed two minutes before the revocation (the certificate is backdated five minutes)
      earlier = await installReport(vehicle, { finishedAt: new Date(Date.now() - 2 * 60 * 1000) });
      expect((await post('/api/v1/attestations', earlier)).status).toBe(201);
      const res = await post(
        `/api/v1/vehicles/${vehicle.serialNumber}/revoke`,
        { reason: 'keyCompromise' },
        tokens.revoke,
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { revokedAt: string; revokedSerialNumbers: string[] };
      expect(body.revokedSerialNumbers).toEqual([vehicle.serialNumber]);
      revokedAt = body.revokedAt;
    });

    it('refuses its install reports with 422 VEHICLE_REVOKED', async () => {
      const res = await post('/api/v1/attestations', await installReport(vehicle, { counter: 2 }));
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe('VEHICLE_REVOKED');
    });

    it('refuses its re-enrollment and a factory enrollment of the same key with VEHICLE_REVOKED', async () => {
      const csr = await createVehicleCsr(vehicle.privateKey, vehicle);
      const again = await post('/api/v1/vehicles/reenroll', {
        csr,
        certificate: vehicle.certificatePem,
      });
      expect(await codeOf(again)).toBe('VEHICLE_REVOKED');
      const factory = await post('/api/v1/vehicles/enroll', { csr }, tokens.factory);
      expect(await codeOf(factory)).toBe('VEHICLE_REVOKED');
    });

    it('answers 409 VEHICLE_ALREADY_REVOKED, 404 VEHICLE_NOT_FOUND and 403 without the revoke scope', async () => {
      const twice = await post(
        `/api/v1/vehicles/${vehicle.serialNumber}/revoke`,
        { reason: 'keyCompromise' },
        tokens.revoke,
      );
      expect([twice.status, await codeOf(twice)]).toEqual([409, 'VEHICLE_ALREADY_REVOKED']);
      const unknown = await post(
        `/api/v1/vehicles/${'7'.repeat(32)}/revoke`,
        { reason: 'unspecified' },
        tokens.revoke,
      );
      expect([unknown.status, await codeOf(unknown)]).toEqual([404, 'VEHICLE_NOT_FOUND']);
      const other = await enroll();
      const factory = await post(
        `/api/v1/vehicles/${other.serialNumber}/revoke`,
        { reason: 'unspecified' },
        tokens.factory,
      );
      expect([factory.status, await codeOf(factory)]).toEqual([403, 'INSUFFICIENT_SCOPE']);
      const badReason = await post(
        `/api/v1/vehicles/${other.serialNumber}/revoke`,
        { reason: 'because' },
        tokens.revoke,
      );
      expect([badReason.status, await codeOf(badReason)]).toEqual([400, 'INVALID_REQUEST']);
    });

    it('revokes a certificate issued outside the API (factory PKCS#12) when the request carries it', async () => {
      const offline = await createVehicleIdentity(ca, {
        vin: 'WVWZZZ1JZXW000780',
        ecuSerial: 'GW-OFFLINE',
      });
      const serial = new X509Certificate(offline.certificatePem).serialNumber.toLowerCase();
      const bare = await post(
        `/api/v1/vehicles/${serial}/revoke`,
        { reason: 'keyCompromise' },
        tokens.revoke,
      );
      expect([bare.status, await codeOf(bare)]).toEqual([404, 'VEHICLE_NOT_FOUND']);
      const mismatched = await post(
        `/api/v1/vehicles/${'5'.repeat(32)}/revoke`,
        { reason: 'keyCompromise', certificate: offline.certificatePem },
        tokens.revoke,
      );
      expect([mismatched.status, await codeOf(mismatched)]).toEqual([400, 'INVALID_REQUEST']);
      const res = await post(
        `/api/v1/vehicles/${serial}/revoke`,
        { reason: 'keyCompromise', certificate: offline.certificatePem },
        tokens.revoke,
      );
      expect(res.status).toBe(200);
      const report = await post('/api/v1/attestations', await installReport(offline));
      expect([report.status, await codeOf(report)]).toEqual([422, 'VEHICLE_REVOKED']);
      const crl = await loadRevocationList(
        await (await fetch(`${server.url}/api/v1/vehicles/crl.pem`)).text(),
        ca.certificatePem,
      );
      expect(crl.revokedSerials.has(serial.replace(/^(00)+/, ''))).toBe(true);
    });

    it('serves a CRL signed by the vehicle CA that lists it, as DER and PEM with a short cache', async () => {
      const der = await fetch(`${server.url}/api/v1/vehicles/crl`);
      expect(der.status).toBe(200);
      expect(der.headers.get('content-type')).toBe('application/pkix-crl');
      expect(der.headers.get('cache-control')).toBe('public, max-age=60');
      const derBytes = new Uint8Array(await der.arrayBuffer());
      expect(derBytes[0]).toBe(0x30);
      const pem = await fetch(`${server.url}/api/v1/vehicles/crl.pem`);
      expect(pem.headers.get('content-type')).toBe('application/x-pem-file');
      const pemText = await pem.text();
      const list = await loadRevocationList(pemText, ca.certificatePem);
      expect(list.revokedSerials.has(vehicle.serialNumber)).toBe(true);
      expect(list.crlNumber).toBeGreaterThan(0);
      const entry = new x509.X509Crl(derBytes).entries.find(
        (e) => e.serialNumber.replace(/^(00)+/, '') === vehicle.serialNumber,
      );
      // X.509 times have second precision
      expect(entry?.revocationDate.getTime()).toBe(Math.floor(Date.parse(revokedAt) / 1000) * 1000);
    });

    it('the auditor flags a report signed after the revocation that a tampered store kept', async () => {
      // Seconds after the revocation: CRL times have one-second resolution, so a tie proves nothing.
      const forged = await installReport(vehicle, {
        counter: 3,
        finishedAt: new Date(Date.now() + 5_000),
      });
      // A compromised server (or database) slips the report past the intake.
      await repo.store.insertAttestation({
        reportSha256: sha256(`forged ${JSON.stringify(forged)}`),
        counter: 3,
        bundleSha256: sha256(JSON.stringify(forged)),
        bundleJson: JSON.stringify(forged),
        vinCommitment: vehicle.vinCommitment,
        ecuSerial: vehicle.ecuSerial,
        targetName: 'gateway-1.0.0.img',
        result: 'SUCCESS',
        receivedAt: new Date().toISOString(),
      });
      const audit = await auditRepository({
        chain: chain.reader(),
        source: createHttpAuditSource(server.url),
        trustedRoot: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
        vehicleCaPem: ca.certificatePem,
      });
      const revoked = audit.findings.filter(
        (f: AuditFinding) => f.code === 'ATTESTATION_FROM_REVOKED_VEHICLE',
      );
      expect(revoked).toHaveLength(1);
      expect(revoked[0]?.severity).toBe('error');
      expect(revoked[0]?.message).toContain(vehicle.serialNumber);
      // The report signed before the revocation is only a warning (the key was compromised).
      expect(audit.findings.map((f) => f.code)).toContain('ATTESTATION_FROM_COMPROMISED_KEY');
      expect(audit.findings.map((f) => f.code)).not.toContain('REVOCATION_LIST_INVALID');
      expect(audit.stats.fromRevokedVehicles).toBe(1);
    });

    it('the auditor refuses a CRL that the vehicle CA did not sign', async () => {
      const otherCa = await createVehicleCa({ commonName: 'Test OEM Vehicle CA' });
      const source = createHttpAuditSource(server.url);
      const audit = await auditRepository({
        chain: chain.reader(),
        source,
        trustedRoot: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
        vehicleCaPem: otherCa.certificatePem,
      });
      expect(audit.findings.map((f) => f.code)).toContain('REVOCATION_LIST_INVALID');
    });
  });

  describe('when a vehicle certificate has expired', () => {
    let vehicle: Vehicle;

    beforeAll(async () => {
      // Enrolled 400 days ago with a 365-day certificate: expired 35 days ago.
      vehicle = await enroll(new Date(Date.now() - 400 * DAY));
      expect(new X509Certificate(vehicle.certificatePem).validToDate.getTime()).toBeLessThan(
        Date.now(),
      );
    });

    it('accepts its install report and flags it certificateExpired', async () => {
      const res = await post('/api/v1/attestations', await installReport(vehicle));
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ certificateExpired: true });
    });

    it('re-enrolls it with a CSR of the same key and the expired certificate, once', async () => {
      const csr = await createVehicleCsr(vehicle.privateKey, vehicle);
      const res = await post('/api/v1/vehicles/reenroll', {
        csr,
        certificate: vehicle.certificatePem,
      });
      expect(res.status).toBe(201);
      const fresh = (await res.json()) as {
        certificate: string;
        serialNumber: string;
        notAfter: string;
      };
      expect(fresh.serialNumber).not.toBe(vehicle.serialNumber);
      expect(Date.parse(fresh.notAfter)).toBeGreaterThan(Date.now() + 300 * DAY);
      const cert = new X509Certificate(fresh.certificate);
      expect(cert.subject).toContain(vehicle.vinCommitment);
      // asking again answers the same fresh certificate instead of issuing another
      const replay = await post('/api/v1/vehicles/reenroll', {
        csr,
        certificate: vehicle.certificatePem,
      });
      expect(replay.status).toBe(200);
      expect(((await replay.json()) as { serialNumber: string }).serialNumber).toBe(
        fresh.serialNumber,
      );
      // ...but only to the key holder: someone with just the old certificate gets nothing
      const stranger = await post('/api/v1/vehicles/reenroll', {
        csr: await createVehicleCsr(newVehicleKey().privateKey, vehicle),
        certificate: vehicle.certificatePem,
      });
      expect([stranger.status, await codeOf(stranger)]).toEqual([422, 'REENROLLMENT_KEY_MISMATCH']);
      // the fresh certificate reports without a flag, and is not due for renewal yet
      const report = await post(
        '/api/v1/attestations',
        await installReport({ ...vehicle, certificatePem: fresh.certificate }, { counter: 2 }),
      );
      expect(report.status).toBe(201);
      expect(await report.json()).not.toHaveProperty('certificateExpired');
      const early = await post('/api/v1/vehicles/reenroll', {
        csr,
        certificate: fresh.certificate,
      });
      expect([early.status, await codeOf(early)]).toEqual([409, 'REENROLLMENT_NOT_DUE']);
    });

    it.each([
      {
        desc: 'a CSR for another key',
        tamper: async (v: Vehicle) => ({
          csr: await createVehicleCsr(newVehicleKey().privateKey, v),
          certificate: v.certificatePem,
        }),
        wantCode: 'REENROLLMENT_KEY_MISMATCH',
      },
      {
        desc: 'a certificate from another CA',
        tamper: async (v: Vehicle) => {
          const rogue = await createVehicleIdentity(
            await createVehicleCa({ commonName: 'Test OEM Vehicle CA' }),
            { vin: 'WVWZZZ1JZXW000779', ecuSerial: v.ecuSerial },
          );
          return {
            csr: await createVehicleCsr(rogue.privateKey, v),
            certificate: rogue.certificatePem,
          };
        },
        wantCode: 'VEHICLE_UNKNOWN',
      },
      {
        desc: 'a certificate that does not parse',
        tamper: async (v: Vehicle) => ({
          csr: await createVehicleCsr(v.privateKey, v),
          certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        }),
        wantCode: 'CERTIFICATE_MALFORMED',
      },
    ])('refuses re-enrollment with $desc: $wantCode', async ({ tamper, wantCode }) => {
      const v = await enroll(new Date(Date.now() - 400 * DAY));
      const res = await post('/api/v1/vehicles/reenroll', await tamper(v));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await codeOf(res)).toBe(wantCode);
    });

    it('refuses reports and re-enrollment once past the grace period with VEHICLE_CERTIFICATE_EXPIRED', async () => {
      // 365-day certificate issued 1200 days ago: expired 835 days ago, grace is 730.
      const old = await enroll(new Date(Date.now() - 1200 * DAY));
      const report = await post('/api/v1/attestations', await installReport(old));
      expect([report.status, await codeOf(report)]).toEqual([422, 'VEHICLE_CERTIFICATE_EXPIRED']);
      const res = await post('/api/v1/vehicles/reenroll', {
        csr: await createVehicleCsr(old.privateKey, old),
        certificate: old.certificatePem,
      });
      expect([res.status, await codeOf(res)]).toEqual([422, 'VEHICLE_CERTIFICATE_EXPIRED']);
      // a workshop with a factory token can still enroll the same key again
      const factory = await post(
        '/api/v1/vehicles/enroll',
        { csr: await createVehicleCsr(old.privateKey, old) },
        tokens.factory,
      );
      expect(factory.status).toBe(201);
    });

    it('the auditor accepts the expired-certificate report with a warning, not an error', async () => {
      const audit = await auditRepository({
        chain: chain.reader(),
        source: createHttpAuditSource(server.url),
        trustedRoot: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
        vehicleCaPem: ca.certificatePem,
      });
      const expired = audit.findings.filter((f) => f.code === 'ATTESTATION_CERTIFICATE_EXPIRED');
      expect(expired.length).toBeGreaterThanOrEqual(1);
      expect(expired.every((f) => f.severity === 'warning')).toBe(true);
      expect(audit.findings.map((f) => f.code)).not.toContain('VEHICLE_CERTIFICATE_INVALID');
    });
  });
});

describe('a server without a vehicle CA key', () => {
  it('answers 503 VEHICLE_CA_NOT_CONFIGURED on the enrollment, revocation and CRL routes', async () => {
    const chain = await startTestChain();
    const dir = await mkdtemp(join(tmpdir(), 'tufchain-vehicles-noca-'));
    const repo = await openTestRepository({ dataDir: dir });
    let server: RunningServer | undefined;
    try {
      const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
      const online = { targets: signer(), snapshot: signer(), timestamp: signer() };
      const writer = chain.writer({ confirmations: 1 });
      await initRepository({
        store: repo.store,
        rootSigners: [signer()],
        threshold: 1,
        onlineSigners: online,
        releaseLog: writer,
      });
      const ca = await createVehicleCa({ commonName: 'Test OEM Vehicle CA' });
      const firmware = signer();
      server = await startServer({
        port: 0,
        deps: {
          store: repo.store,
          blobs: repo.blobs,
          signers: online,
          releaseLog: writer,
          firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
          vehicleCaPem: ca.certificatePem,
          config: { resignIntervalMs: 0 },
        },
      });
      const { token } = await createApiToken(repo.store, { name: 'admin', scopes: ['admin'] });
      const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      const csr = await createVehicleCsr(key, {
        vinCommitment: 'b'.repeat(64),
        ecuSerial: 'GW-1',
      });
      const answers = await Promise.all([
        fetch(`${server.url}/api/v1/vehicles/enroll`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ csr }),
        }),
        fetch(`${server.url}/api/v1/vehicles/${'1'.repeat(32)}/revoke`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'unspecified' }),
        }),
        fetch(`${server.url}/api/v1/vehicles/crl`),
      ]);
      for (const res of answers) {
        expect(res.status).toBe(503);
        expect(((await res.json()) as ErrorBody).error.code).toBe('VEHICLE_CA_NOT_CONFIGURED');
      }
      // Vehicles provisioned offline by this CA still report (no enrollment registry to consult).
      const identity = await createVehicleIdentity(ca, {
        vin: 'WVWZZZ1JZXW000901',
        ecuSerial: 'GW-OFFLINE',
      });
      const digest = sha256('offline vehicle image');
      const bundle = await signSuccessReport({
        chain,
        vehicle: identity,
        hardwareId: 'gw',
        to: { name: 'gw.img', version: '1.0.0', releaseCounter: 1, digest },
        metadata: { targetsVersion: 1, targetsHash: `0x${'a'.repeat(64)}` },
      });
      const report = await fetch(`${server.url}/api/v1/attestations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bundle),
      });
      expect(report.status).toBe(201);
    } finally {
      await server?.close();
      await repo.close();
      await chain.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A CSR with an arbitrary subject, built with @peculiar/x509 to reach what createVehicleCsr refuses. */
async function rawCsr(opts: {
  cn: string;
  serial: string;
  extra?: string;
  ed25519?: boolean;
}): Promise<string> {
  const algorithm = opts.ed25519
    ? { name: 'Ed25519' }
    : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const name: Record<string, string[]>[] = [{ '2.5.4.3': [opts.cn] }, { '2.5.4.5': [opts.serial] }];
  if (opts.extra) name.push({ '2.5.4.11': [opts.extra] });
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: algorithm,
  });
  return csr.toString('pem');
}
