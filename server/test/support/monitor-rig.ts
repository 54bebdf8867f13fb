import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeySigner, createVehicleCa, generateKeyPair, type Signer } from '@tufchain/keys';
import { createNoteVerifier, type NoteVerifier } from '@tufchain/transparency';
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
import type { Alert } from '../../src/monitor/alert.js';
import type { Monitor, MonitorConfig } from '../../src/monitor/monitor.js';
import { openMonitor } from '../../src/monitor/open.js';
import type { MonitorStateStore } from '../../src/monitor/state.js';
import { signWebhookBody, SIGNATURE_HEADER } from '../../src/monitor/webhook.js';
import { startTestChain, type TestChain } from './chain.js';
import { openTestRepository } from './database.js';
import { publishOverHttp } from './publish-over-http.js';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const SECRET = 'monitor-webhook-test-secret';
const LOG_ORIGIN = 'tufchain.test/monitor';
export const HARDWARE_ID = 'brake-ecu-v1';

export interface Delivery {
  alert: Alert;
  signatureValid: boolean;
  /** performance.now() when the receiver had the whole body. */
  at: number;
}

export interface MonitorRig {
  chain: TestChain;
  server: RunningServer;
  /** Webhook deliveries, in arrival order. */
  deliveries: Delivery[];
  /** Lines the monitor logged at error level (critical alerts, failed polls). */
  errors: string[];
  /** The one image the OEM's expectations list. */
  expectedImage: Uint8Array;
  /** Tokens of the rig's server: `audit` (read-only, the console) and `enroll` (vehicles). */
  tokens: { audit: string; enroll: string };
  /** The vehicle CA the server enrolls with and the monitor verifies install reports against. */
  vehicleCaPem: string;
  /** The keys of the server's transparency log, when the rig has one (`log: true`). */
  logVerifiers?: NoteVerifier[];
  /** Uploads `bytes` and publishes it as a release through the API, signed by the OEM's keys. */
  publish(name: string, bytes: Uint8Array, releaseCounter: number): Promise<void>;
  /**
   * A monitor over the rig's files and state (re-opening resumes from the saved state); the
   * server's monitor hooks (alerts, latest audit) read the last one opened.
   */
  open(config?: Partial<MonitorConfig>, state?: MonitorStateStore): Promise<Monitor>;
  close(): Promise<void>;
}

/**
 * Real parts for the monitor: anvil (TufchainLog), a repository published through the server on
 * loopback, the OEM's expectations (its keys, its publisher, one release), and a webhook receiver
 * that checks each delivery's HMAC. anvil mines a block every `blockSeconds` from the start.
 * Shared by test/monitor.int.test.ts and bench/monitor.ts.
 */
export async function startMonitorRig(opts: {
  blockSeconds: number;
  /** The monitor's confirmation depth. */
  confirmations: number;
  /** A transparency log with anchoring, for install reports' proof bundles. */
  log?: boolean;
}): Promise<MonitorRig> {
  const chain = await startTestChain();
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-monitor-'));
  const repo: OpenedRepository = await openTestRepository({ dataDir: dir });
  const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
  const online = { targets: signer(), snapshot: signer(), timestamp: signer() };
  const rootSigners = [signer(), signer()];
  const firmwareSigner = signer();
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
  const noteKey = generateKeyPairSync('ed25519');
  const log: ServerLog | undefined = opts.log
    ? await openServerLog({
        dataDir: dir,
        origin: LOG_ORIGIN,
        noteKey: noteKey.privateKey,
        anchoring: {
          signer: chain.operator(),
          contractAddress: chain.contractAddress,
          chainId: chain.chain.chainId,
          fromBlock: chain.deployBlock,
          config: { confirmations: 1, pollIntervalMs: 50, intervalMs: 300, batchSize: 4 },
        },
        logger: pino({ level: 'silent' }),
      })
    : undefined;
  let current: Monitor | undefined;
  const server = await startServer({
    port: 0,
    deps: {
      store: repo.store,
      blobs: repo.blobs,
      signers: online,
      releaseLog: writer,
      firmwareKey: { publicKeyPem: firmwareSigner.publicKeyPem(), keyId: firmwareSigner.keyId },
      vehicleCa,
      ...(log ? { transparencyLog: log } : {}),
      chainProbe: () => chain.provider.getBlockNumber(),
      chainHead: () => chain.blockNumber(),
      monitorAlerts: () => current?.recentAlerts(),
      monitorAudit: () => current?.latestAudit(),
      config: { resignIntervalMs: 0, binBits: 1 },
    },
  });
  const token = (await createApiToken(repo.store, { name: 'release-ci', scopes: ['publish'] }))
    .token;
  const tokens = {
    audit: (await createApiToken(repo.store, { name: 'auditor', scopes: ['audit'] })).token,
    enroll: (await createApiToken(repo.store, { name: 'factory', scopes: ['enroll'] })).token,
  };

  const deliveries: Delivery[] = [];
  const receiver: Server = createServer((req, res) => {
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
  const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;

  const expectedImage = new TextEncoder().encode('brake firmware 1.1.0');
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
  await chain.provider.send('evm_setIntervalMining', [opts.blockSeconds]);
  const errors: string[] = [];

  return {
    chain,
    server,
    deliveries,
    errors,
    expectedImage,
    tokens,
    vehicleCaPem: vehicleCa.certificatePem,
    ...(log ? { logVerifiers: [createNoteVerifier(LOG_ORIGIN, noteKey.publicKey)] } : {}),
    async publish(name, bytes, releaseCounter) {
      await publishOverHttp(server.url, token, firmwareSigner, {
        name,
        bytes,
        hardwareIds: [HARDWARE_ID],
        version: `1.${releaseCounter}.0`,
        releaseCounter,
      });
    },
    async open(config, state) {
      current = await openMonitor({
        chain: chain.reader(opts.confirmations),
        chainId: chain.chain.chainId,
        contractAddress: chain.contractAddress,
        serverUrl: server.url,
        rootFile: join(dir, 'root.json'),
        expectationsFile: join(dir, 'expectations.json'),
        state: state ? { store: state } : { file: join(dir, 'monitor-state.json') },
        webhook: { url: webhookUrl, secretFile: join(dir, 'webhook.secret') },
        logger: pino({ level: 'error' }, { write: (line: string) => errors.push(line) }),
        config: { pollIntervalMs: 200, auditGraceMs: 3000, auditIntervalMs: 1000, ...config },
        vehicleCaPem: vehicleCa.certificatePem,
      });
      return current;
    },
    async close() {
      await server.close();
      await log?.close();
      await repo.close();
      await chain.stop();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
