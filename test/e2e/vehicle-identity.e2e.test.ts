/**
 * Vehicle identity across the parts, on real parts: anvil on loopback, the Hono server on port 0
 * with SQLite and a vehicle CA, the agent over undici, the auditor over HTTP + RPC. Expiry is
 * produced by enrolling with the server clock in the past, never by sleeping.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EnrollmentError,
  enrollVehicle,
  ensureVehicleCertificate,
  FileSlotStore,
  ReportOutbox,
  runUpdate,
  runUpdateWithRenewal,
  type EnrolledVehicle,
  type UpdateOptions,
} from '@tufchain/client-agent';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import {
  createApiToken,
  initRepository,
  openRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '@tufchain/server';
import {
  auditRepository,
  ChainReader,
  createHttpAuditSource,
  ReleaseLogWriter,
} from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainedFirmware } from './oem-cli.js';

const DAY = 24 * 60 * 60 * 1000;
const HARDWARE_ID = 'acme-gateway-ecu-rev3';

describe('vehicle identity: enrollment, expiry and revocation across server, agent and auditor', () => {
  let dir: string;
  let testChain: TestChain;
  let repo: OpenedRepository;
  let server: RunningServer;
  let reader: ChainReader;
  let rootBytes: Uint8Array;
  let ca: VehicleCa;
  let buildKey: Signer;
  let publishToken: string;
  let factoryToken: string;
  let revokeToken: string;
  const serverNow = { value: new Date() };
  let vehicle: EnrolledVehicle;
  let slots: FileSlotStore;
  let releaseCounter = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-vehicle-e2e-'));
    testChain = await startTestChain();
    const releaseLog = new ReleaseLogWriter({
      signer: testChain.publisher,
      contractAddress: testChain.address,
      confirmations: 1,
    });
    const key = (type: 'ed25519' | 'ecdsa-p256'): Signer =>
      createKeySigner(generateKeyPair(type).privateKey);
    const online = {
      targets: key('ed25519'),
      snapshot: key('ed25519'),
      timestamp: key('ecdsa-p256'),
    };
    buildKey = key('ecdsa-p256');
    ca = await createVehicleCa({
      commonName: 'ACME Vehicle CA',
      notBefore: new Date(Date.now() - 5 * 365 * DAY),
      validDays: 20 * 365,
    });
    repo = await openRepository({ dataDir: join(dir, 'server') });
    rootBytes = (
      await initRepository({
        store: repo.store,
        rootSigners: [key('ed25519'), key('ecdsa-p256')],
        threshold: 2,
        onlineSigners: online,
        releaseLog,
      })
    ).rootBytes;
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog,
        firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
        vehicleCa: ca,
        vehicleEnrollment: { certificateValidDays: 365 },
        clock: () => serverNow.value,
        config: { resignIntervalMs: 0 },
      },
    });
    publishToken = (await createApiToken(repo.store, { name: 'ci', scopes: ['publish'] })).token;
    factoryToken = (await createApiToken(repo.store, { name: 'line', scopes: ['enroll'] })).token;
    revokeToken = (await createApiToken(repo.store, { name: 'soc', scopes: ['revoke'] })).token;
    reader = new ChainReader({
      rpcUrls: [testChain.chain.rpcUrl],
      quorum: 1,
      contractAddress: testChain.address,
      confirmations: 1,
      chainId: testChain.chain.chainId,
      fromBlock: testChain.deployBlock,
    });
    slots = await FileSlotStore.provision(join(dir, 'vehicle', 'slots'), {
      image: firmware('0.9.0'),
      name: 'gateway-0.9.0.img',
      version: '0.9.0',
      releaseCounter: 0,
    });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await testChain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const firmware = (version: string): Uint8Array => chainedFirmware(version, 64 * 1024);

  async function publish(version: string): Promise<void> {
    releaseCounter += 1;
    const name = `gateway-${version}.img`;
    const image = firmware(version);
    const put = await fetch(`${server.url}/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${publishToken}`,
        'content-type': 'application/octet-stream',
      },
      body: image,
    });
    expect(put.status).toBe(201);
    const attestation = await signFirmwareAttestation(
      {
        name,
        sha256: createHash('sha256').update(image).digest('hex'),
        hardwareIds: [HARDWARE_ID],
        version,
        releaseCounter,
      },
      buildKey,
    );
    const res = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${publishToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: [{ name, hardwareIds: [HARDWARE_ID], version, releaseCounter, attestation }],
      }),
    });
    expect(res.status).toBe(201);
  }

  function updateOptions(certificatePem: string): UpdateOptions {
    return {
      serverUrl: server.url,
      metadataDir: join(dir, 'vehicle', 'tuf'),
      trustedRootJson: rootBytes,
      hardwareId: HARDWARE_ID,
      ecuSerial: vehicle.ecuSerial,
      chain: reader,
      chainId: testChain.chain.chainId,
      firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
      slots,
      vehicle: {
        signer: createKeySigner(vehicle.privateKey),
        certificatePem,
        vinCommitment: vehicle.vinCommitment,
      },
      odometerKm: 10_000 + releaseCounter,
    };
  }

  const outbox = () => new ReportOutbox(join(dir, 'vehicle', 'tuf', '.agent'));

  describe('on the factory line', () => {
    it('refuses enrollment with a wrong token: ENROLLMENT_REJECTED carrying UNAUTHENTICATED', async () => {
      const err = await enrollVehicle({
        serverUrl: server.url,
        factoryToken: `tct_0123456789abcdef_${'A'.repeat(43)}`,
        vinCommitment: computeVinCommitment('WAC9D1234RZ000042', randomBytes(32)),
        ecuSerial: 'GW-0042',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnrollmentError);
      expect((err as EnrollmentError).code).toBe('ENROLLMENT_REJECTED');
      expect((err as EnrollmentError).serverCode).toBe('UNAUTHENTICATED');
    });

    it('enrolls the vehicle: a fresh key, a CSR with the VIN commitment, a certificate pinned to the CA', async () => {
      // The car left the factory 400 days ago with a 365-day certificate: it has expired since.
      serverNow.value = new Date(Date.now() - 400 * DAY);
      try {
        vehicle = await enrollVehicle({
          serverUrl: server.url,
          factoryToken,
          vinCommitment: computeVinCommitment('WAC9D1234RZ000042', randomBytes(32)),
          ecuSerial: 'GW-0042',
          caCertificatePem: ca.certificatePem,
          at: serverNow.value,
        });
      } finally {
        serverNow.value = new Date();
      }
      expect(vehicle.certificatePem).toContain('BEGIN CERTIFICATE');
      expect(vehicle.notAfter.getTime()).toBeLessThan(Date.now());
      expect(new X509Certificate(vehicle.certificatePem).subject).not.toContain(
        'WAC9D1234RZ000042',
      );
    });
  });

  describe('when the vehicle certificate has expired', () => {
    it('still installs the update; its report is accepted and flagged certificateExpired', async () => {
      await publish('1.0.0');
      const result = await runUpdate(updateOptions(vehicle.certificatePem));
      expect(result.status).toBe('UPDATED');
      expect(result.target?.version).toBe('1.0.0');
      expect(result.report?.sent).toBe(true);
      expect(await outbox().receipt(result.report!.id)).toMatchObject({ certificateExpired: true });
    });

    it('re-enrolls at the next cycle, installs, and signs the report with the fresh certificate', async () => {
      await publish('2.0.0');
      let saved: string | undefined;
      const result = await runUpdateWithRenewal({
        ...updateOptions(vehicle.certificatePem),
        renewal: {
          privateKey: vehicle.privateKey,
          caCertificatePem: ca.certificatePem,
          checkRevocation: true,
          saveCertificate: (pem) => {
            saved = pem;
            return Promise.resolve();
          },
        },
      });
      expect(result.certificate.status).toBe('RENEWED');
      expect(result.certificate.notAfter.getTime()).toBeGreaterThan(Date.now() + 300 * DAY);
      expect(saved).toBe(result.certificate.certificatePem);
      expect(result.status).toBe('UPDATED');
      expect(result.target?.version).toBe('2.0.0');
      expect(result.report?.sent).toBe(true);
      expect(await outbox().receipt(result.report!.id)).not.toHaveProperty('certificateExpired');
      const material = (
        result.report!.bundle as { verificationMaterial: { certificate: { rawBytes: string } } }
      ).verificationMaterial.certificate.rawBytes;
      expect(new X509Certificate(Buffer.from(material, 'base64')).serialNumber.toLowerCase()).toBe(
        new X509Certificate(result.certificate.certificatePem).serialNumber.toLowerCase(),
      );
      vehicle = { ...vehicle, certificatePem: result.certificate.certificatePem };
    });

    it('the auditor verifies the history: the expired-certificate report is a warning, nothing is an error', async () => {
      const audit = await auditRepository({
        chain: reader,
        source: createHttpAuditSource(server.url),
        trustedRoot: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
        vehicleCaPem: ca.certificatePem,
        requireRevocationList: true,
        firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
      });
      expect(audit.findings.filter((f) => f.severity === 'error')).toEqual([]);
      expect(audit.findings.map((f) => f.code)).toEqual(['ATTESTATION_CERTIFICATE_EXPIRED']);
      expect(audit.stats.installsVerified).toBe(2);
    });
  });

  describe('when the vehicle is revoked', () => {
    it('the agent sees itself on the CRL, still installs, and the server refuses its report', async () => {
      const serial = new X509Certificate(vehicle.certificatePem).serialNumber;
      const revoke = await fetch(`${server.url}/api/v1/vehicles/${serial}/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${revokeToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'keyCompromise' }),
      });
      expect(revoke.status).toBe(200);
      const check = await ensureVehicleCertificate({
        serverUrl: server.url,
        certificatePem: vehicle.certificatePem,
        privateKey: vehicle.privateKey,
        caCertificatePem: ca.certificatePem,
        checkRevocation: true,
      });
      expect(check.status).toBe('REVOKED');

      await publish('3.0.0');
      const result = await runUpdate(updateOptions(vehicle.certificatePem));
      expect(result.status).toBe('UPDATED');
      expect(result.report?.sent).toBe(false);
      const refusal = (await outbox().receipt(`${result.report!.id}.rejected`)) as {
        status: number;
        body: string;
      };
      expect(refusal.status).toBe(422);
      expect((JSON.parse(refusal.body) as { error: { code: string } }).error.code).toBe(
        'VEHICLE_REVOKED',
      );
    });
  });
});
