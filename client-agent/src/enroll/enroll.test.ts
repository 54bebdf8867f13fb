import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  computeVinCommitment,
  createVehicleCa,
  issueVehicleCertificateFromCsr,
  type VehicleCa,
} from '@tufchain/keys';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { defaultConfig } from '../config.js';
import { enrollVehicle } from './enroll.js';

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A factory line enrolling against a server that first asks it to come back later (HTTP on
 * loopback, a real vehicle CA issuing from the CSR once it answers).
 */
describe('enrollVehicle and a server that refuses before reading the request', () => {
  let ca: VehicleCa;
  let refusals: { status: number; code: string }[] = [];
  let requests = 0;
  const vinCommitment = computeVinCommitment('1HGCM82633A004352', randomBytes(16));
  const server = createServer((req, res) => {
    requests += 1;
    const refusal = refusals.shift();
    void bodyOf(req).then(async (text) => {
      if (refusal) {
        res.writeHead(refusal.status, { 'retry-after': '1', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: refusal.code, message: 'later' } }));
        return;
      }
      const { csr } = JSON.parse(text) as { csr: string };
      const certificate = await issueVehicleCertificateFromCsr(ca, csr, {
        vinCommitment,
        ecuSerial: 'ECU-1',
      });
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ certificate, caCertificate: ca.certificatePem }));
    });
  });
  let serverUrl = '';

  beforeAll(async () => {
    ca = await createVehicleCa({ commonName: 'Enroll Test CA' });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    requests = 0;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const enroll = (config: Partial<typeof defaultConfig> = {}) =>
    enrollVehicle({
      serverUrl,
      factoryToken: 'tct_factory',
      vinCommitment,
      ecuSerial: 'ECU-1',
      caCertificatePem: ca.certificatePem,
      config: { retryBaseDelayMs: 1, retryMaxDelayMs: 2000, ...config },
    });

  it.each([
    { status: 503, code: 'SERVER_BUSY' },
    { status: 429, code: 'TOO_MANY_REQUESTS' },
  ])('sends the CSR again after the Retry-After of a $status $code', async (refusal) => {
    refusals = [refusal];
    const started = performance.now();
    const vehicle = await enroll();
    expect(vehicle.ecuSerial).toBe('ECU-1');
    expect(requests).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('does not send it again after another 503 (the server may have acted), or past fetchRetries', async () => {
    refusals = [{ status: 503, code: 'DATABASE_UNAVAILABLE' }];
    await expect(enroll()).rejects.toMatchObject({
      code: 'ENROLLMENT_FAILED',
      message: expect.stringContaining('DATABASE_UNAVAILABLE') as unknown,
    });
    expect(requests).toBe(1);

    requests = 0;
    refusals = [
      { status: 503, code: 'SERVER_BUSY' },
      { status: 503, code: 'SERVER_BUSY' },
    ];
    await expect(enroll({ fetchRetries: 1 })).rejects.toMatchObject({
      code: 'ENROLLMENT_FAILED',
      message: expect.stringContaining('SERVER_BUSY') as unknown,
    });
    expect(requests).toBe(2);
    refusals = [];
  });
});
