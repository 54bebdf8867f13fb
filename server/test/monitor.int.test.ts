import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '../src/index.js';
import type { Alert } from '../src/monitor/alert.js';
import type { Monitor } from '../src/monitor/monitor.js';
import { openMonitor } from '../src/monitor/open.js';
import { signWebhookBody, SIGNATURE_HEADER } from '../src/monitor/webhook.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository } from './support/database.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const SECRET = 'monitor-webhook-test-secret';
const HARDWARE_ID = 'brake-ecu-v1';
/** anvil mines one block a second here; the monitor waits for 2 of them. */
const BLOCK_SECONDS = 1;
const CONFIRMATIONS = 2;

interface Delivery {
  alert: Alert;
  signatureValid: boolean;
  at: number;
}

describe('the monitor on real parts (anvil, the server on loopback, a webhook receiver)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let receiver: Server;
  let webhookUrl: string;
  let token: string;
  let firmwareSigner: Signer;
  let expectedImage: Uint8Array;
  const deliveries: Delivery[] = [];
  /** What the monitor logged at error level: critical alerts and failed polls. */
  const errors: string[] = [];

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-monitor-int-'));
    repo = await openTestRepository({ dataDir: dir });
    const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
    const online = { targets: signer(), snapshot: signer(), timestamp: signer() };
    const rootSigners = [signer(), signer()];
    firmwareSigner = signer();
    const writer = chain.writer({ confirmations: 1 });
    const { rootBytes } = await initRepository({
      store: repo.store,
      rootSigners,
      threshold: 2,
      onlineSigners: online,
      releaseLog: writer,
      binBits: 1,
    });
    const vehicleCa = await createVehicleCa({ commonName: 'Monitor Test OEM CA' });
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: firmwareSigner.publicKeyPem(), keyId: firmwareSigner.keyId },
        vehicleCaPem: vehicleCa.certificatePem,
        chainProbe: () => chain.provider.getBlockNumber(),
        config: { resignIntervalMs: 0, binBits: 1 },
      },
    });
    token = (await createApiToken(repo.store, { name: 'release-ci', scopes: ['publish'] })).token;

    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        deliveries.push({
          alert: JSON.parse(body) as Alert,
          signatureValid: req.headers[SIGNATURE_HEADER] === signWebhookBody(body, SECRET),
          at: performance.now(),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;

    expectedImage = new TextEncoder().encode('brake firmware 1.1.0');
    await writeFile(join(dir, 'root.json'), rootBytes);
    await writeFile(join(dir, 'webhook.secret'), `${SECRET}\n`);
    await writeFile(
      join(dir, 'expectations.json'),
      JSON.stringify({
        publishers: [await chain.publisher().getAddress()],
        keys: {
          root: rootSigners.map((s) => s.keyId),
          targets: [online.targets.keyId],
          snapshot: [online.snapshot.keyId],
          timestamp: [online.timestamp.keyId],
        },
        releases: [{ digest: sha256(expectedImage), hardwareId: HARDWARE_ID, version: 1 }],
      }),
    );
    await chain.provider.send('evm_setIntervalMining', [BLOCK_SECONDS]);
  });

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await chain?.stop();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function open(): Promise<Monitor> {
    return openMonitor({
      chain: chain.reader(CONFIRMATIONS),
      chainId: chain.chain.chainId,
      contractAddress: chain.contractAddress,
      serverUrl: server.url,
      rootFile: join(dir, 'root.json'),
      expectationsFile: join(dir, 'expectations.json'),
      stateFile: join(dir, 'monitor-state.json'),
      webhook: { url: webhookUrl, secretFile: join(dir, 'webhook.secret') },
      logger: pino({ level: 'error' }, { write: (line: string) => errors.push(line) }),
      config: { pollIntervalMs: 200, auditGraceMs: 3000, auditIntervalMs: 1000 },
    });
  }

  async function publish(name: string, bytes: Uint8Array, releaseCounter: number): Promise<void> {
    const auth = { authorization: `Bearer ${token}` };
    const put = await fetch(`${server.url}/api/v1/firmware/${name}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(put.status).toBe(201);
    const claims = { hardwareIds: [HARDWARE_ID], version: `1.${releaseCounter}.0`, releaseCounter };
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(bytes), ...claims },
      firmwareSigner,
    );
    const res = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [{ name, ...claims, attestation }] }),
    });
    expect(res.status).toBe(201);
  }

  /** Waits until the monitor has checked past the chain's current head, and the grace after it. */
  async function settle(monitor: Monitor): Promise<void> {
    const head = await chain.blockNumber();
    await expect
      .poll(() => monitor.checkpoint?.blockNumber ?? -1, { timeout: 15_000, interval: 100 })
      .toBeGreaterThanOrEqual(head);
    await new Promise((r) => setTimeout(r, 4000));
  }

  it('stays quiet on an expected release, alerts once on a rogue one within the goal, and not again after a restart', async () => {
    let monitor = await open();
    let running = monitor.run();
    try {
      await publish('brake-1.1.0.bin', expectedImage, 1);
      await settle(monitor);
      expect(deliveries.map((d) => d.alert.kind)).toEqual([]);

      // The stolen-key case: the OEM's own (online) keys sign a release its records do not know.
      const rogue = new TextEncoder().encode('brake firmware 6.6.6, not built by the OEM');
      const watcher = chain.reader(1);
      const loggedBefore = (await watcher.releases()).length;
      const publishing = publish('brake-6.6.6.bin', rogue, 2);
      while ((await watcher.releases()).length === loggedBefore) {
        await new Promise((r) => setTimeout(r, 25));
      }
      const loggedAt = performance.now();
      await publishing;
      await expect.poll(() => deliveries.length, { timeout: 20_000, interval: 25 }).toBe(1);
      const latencyMs = deliveries[0]!.at - loggedAt;
      const goalMs = (CONFIRMATIONS * BLOCK_SECONDS + 5) * 1000;
      console.log(
        `monitor latency: rogue release logged -> webhook alert ${Math.round(latencyMs)} ms (goal ${goalMs} ms: ${CONFIRMATIONS} confirmations of ${BLOCK_SECONDS} s + 5 s)`,
      );
      expect(latencyMs).toBeLessThanOrEqual(goalMs);
      const [first] = deliveries;
      expect(first!.signatureValid).toBe(true);
      expect(first!.alert).toMatchObject({
        kind: 'UNEXPECTED_RELEASE',
        severity: 'critical',
        subject: `0x${sha256(rogue)}`,
        chainId: chain.chain.chainId,
      });
      expect(first!.alert.id).toMatch(/^[0-9a-f]{64}$/);
      expect(monitor.recentAlerts().map((a) => a.id)).toEqual([first!.alert.id]);

      await settle(monitor);
      expect(deliveries).toHaveLength(1);
      await running.stop();

      monitor = await open();
      expect(monitor.recentAlerts().map((a) => a.id)).toEqual([first!.alert.id]);
      running = monitor.run();
      await chain.mine(3);
      await settle(monitor);
      expect(deliveries).toHaveLength(1);
      const logged = errors.map((l) => JSON.parse(l) as { msg: string; alert?: Alert });
      // The structured log is a sink too: the alert once, and no failed poll.
      expect(logged.map((l) => [l.msg, l.alert?.id])).toEqual([
        ['monitor alert UNEXPECTED_RELEASE', first!.alert.id],
      ]);
    } finally {
      await running.stop();
    }
  });
});
