import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createVehicleCa,
  createVehicleIdentity,
  issueVehicleCertificate,
  type VehicleCa,
  type VehicleIdentity,
} from '@tufchain/keys';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serveHuge, type HostileAnswer } from '../../test/helpers/hostile.js';
import { isAgentError } from '../error.js';
import { ensureVehicleCertificate } from './renewal.js';

const DAY = 24 * 60 * 60 * 1000;

/** A loopback double of the enrollment server answering one canned response. */
async function serve(
  answer: (ca: VehicleCa, v: VehicleIdentity) => Promise<{ status: number; body: unknown }>,
  ca: VehicleCa,
  v: VehicleIdentity,
): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    req.resume();
    req.on('end', () => {
      void answer(ca, v).then(({ status, body }) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

describe('ensureVehicleCertificate', () => {
  let ca: VehicleCa;
  let expired: VehicleIdentity;
  let fresh: VehicleIdentity;
  const servers: Server[] = [];

  beforeAll(async () => {
    ca = await createVehicleCa({ commonName: 'CA', notBefore: new Date(Date.now() - 900 * DAY) });
    expired = await createVehicleIdentity(ca, {
      vin: 'WVWZZZ1JZXW000001',
      ecuSerial: 'GW-1',
      notBefore: new Date(Date.now() - 400 * DAY),
      validDays: 365,
    });
    fresh = await createVehicleIdentity(ca, { vin: 'WVWZZZ1JZXW000002', ecuSerial: 'GW-2' });
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  const unreachable = 'http://127.0.0.1:9';

  it('answers VALID for a certificate that is not due, without asking the server', async () => {
    const check = await ensureVehicleCertificate({
      serverUrl: unreachable,
      certificatePem: fresh.certificatePem,
      privateKey: fresh.privateKey,
      caCertificatePem: ca.certificatePem,
    });
    expect(check).toMatchObject({
      status: 'VALID',
      expired: false,
      certificatePem: fresh.certificatePem,
    });
  });

  it('answers RENEWAL_FAILED (never throws) for an expired certificate when the server is away', async () => {
    const check = await ensureVehicleCertificate({
      serverUrl: unreachable,
      certificatePem: expired.certificatePem,
      privateKey: expired.privateKey,
      caCertificatePem: ca.certificatePem,
    });
    expect(check.status).toBe('RENEWAL_FAILED');
    expect(check.expired).toBe(true);
    expect(check.certificatePem).toBe(expired.certificatePem);
    expect(check.error?.code).toBe('ENROLLMENT_FAILED');
  });

  it('answers VALID for a certificate issued today on a vehicle whose clock is 30 days behind', async () => {
    const check = await ensureVehicleCertificate({
      serverUrl: unreachable,
      certificatePem: fresh.certificatePem,
      privateKey: fresh.privateKey,
      caCertificatePem: ca.certificatePem,
      clock: () => new Date(Date.now() - 30 * DAY),
    });
    expect(check).toMatchObject({ status: 'VALID', expired: false });
  });

  it('throws VEHICLE_CERTIFICATE_INVALID for a certificate from another CA', async () => {
    const other = await createVehicleCa({ commonName: 'CA' });
    const err = await ensureVehicleCertificate({
      serverUrl: unreachable,
      certificatePem: expired.certificatePem,
      privateKey: expired.privateKey,
      caCertificatePem: other.certificatePem,
    }).catch((e: unknown) => e);
    expect(isAgentError(err, 'VEHICLE_CERTIFICATE_INVALID')).toBe(true);
  });

  it.each([
    {
      desc: 'the server says the vehicle is revoked',
      answer: () =>
        Promise.resolve({
          status: 422,
          body: { error: { code: 'VEHICLE_REVOKED', message: 'x' } },
        }),
      want: 'REVOKED',
      wantError: 'VEHICLE_REVOKED',
    },
    {
      desc: 'the server is failing',
      answer: () =>
        Promise.resolve({ status: 503, body: { error: { code: 'NOT_READY', message: 'x' } } }),
      want: 'RENEWAL_FAILED',
      wantError: 'ENROLLMENT_FAILED',
    },
    {
      desc: 'the answer is a certificate for another key',
      answer: async (c: VehicleCa, v: VehicleIdentity) => ({
        status: 201,
        body: {
          certificate: (
            await createVehicleIdentity(c, { vin: 'WVWZZZ1JZXW000003', ecuSerial: v.ecuSerial })
          ).certificatePem,
          caCertificate: c.certificatePem,
        },
      }),
      want: 'RENEWAL_FAILED',
      wantError: 'VEHICLE_CERTIFICATE_INVALID',
    },
    {
      desc: 'the answer is a fresh certificate for this key',
      answer: async (c: VehicleCa, v: VehicleIdentity) => ({
        status: 201,
        body: {
          certificate: await issueVehicleCertificate(c, {
            publicKey: v.privateKey,
            vinCommitment: v.vinCommitment,
            ecuSerial: v.ecuSerial,
          }),
          caCertificate: c.certificatePem,
        },
      }),
      want: 'RENEWED',
      wantError: undefined,
    },
  ])('answers $want when $desc', async ({ answer, want, wantError }) => {
    const double = await serve(answer, ca, expired);
    servers.push(double.server);
    let saved: string | undefined;
    const check = await ensureVehicleCertificate({
      serverUrl: double.url,
      certificatePem: expired.certificatePem,
      privateKey: expired.privateKey,
      caCertificatePem: ca.certificatePem,
      saveCertificate: (pem) => {
        saved = pem;
        return Promise.resolve();
      },
    });
    expect(double.requests).toEqual(['POST /api/v1/vehicles/reenroll']);
    expect(check.status).toBe(want);
    expect(check.error?.code).toBe(wantError);
    if (want === 'RENEWED') {
      expect(saved).toBe(check.certificatePem);
      expect(check.expired).toBe(false);
    } else {
      expect(saved).toBeUndefined();
      expect(check.certificatePem).toBe(expired.certificatePem);
    }
  });

  describe('a hostile server answering 256 MiB', () => {
    const MiB = 1024 * 1024;
    /** A server whose every answer is 256 MiB; `answers` says how far each got. */
    async function serveHugeAnswers(): Promise<{ url: string; answers: HostileAnswer[] }> {
      const answers: HostileAnswer[] = [];
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => answers.push(serveHuge(res, 256 * MiB, 201)));
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, answers };
    }

    it('cuts the re-enrollment answer with ENDLESS_DATA and keeps the certificate it has', async () => {
      const hostile = await serveHugeAnswers();
      const check = await ensureVehicleCertificate({
        serverUrl: hostile.url,
        certificatePem: expired.certificatePem,
        privateKey: expired.privateKey,
        caCertificatePem: ca.certificatePem,
      });
      expect(check).toMatchObject({
        status: 'RENEWAL_FAILED',
        certificatePem: expired.certificatePem,
        error: { code: 'ENDLESS_DATA' },
      });
      await Promise.all(hostile.answers.map((a) => a.closed));
      expect(hostile.answers.map((a) => a.sent < 64 * MiB)).toEqual([true]);
    });

    it('cuts the CRL at crlMaxLength', async () => {
      const hostile = await serveHugeAnswers();
      const check = await ensureVehicleCertificate({
        serverUrl: hostile.url,
        certificatePem: fresh.certificatePem,
        privateKey: fresh.privateKey,
        caCertificatePem: ca.certificatePem,
        checkRevocation: true,
      });
      // The CRL is advisory: one that cannot be read changes nothing.
      expect(check.status).toBe('VALID');
      await Promise.all(hostile.answers.map((a) => a.closed));
      expect(hostile.answers.map((a) => a.sent < 64 * MiB)).toEqual([true]);
    });
  });
});
