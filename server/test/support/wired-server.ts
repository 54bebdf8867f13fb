import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCa,
  createVehicleCsr,
  finalizeRootCeremony,
  generateKeyPair,
  initRootCeremony,
  signFirmwareAttestation,
  signRootCeremony,
  toTufPublicKey,
  type Signer,
} from '@tufchain/keys';
import { signVehicleRequest } from '@tufchain/transparency/wire';
import { pino } from 'pino';
import {
  createApiToken,
  createServerParts,
  initDirectorFromRoot,
  initRepository,
  openServerLog,
  startServer,
  TOKEN_SCOPES,
  type ConfigInput,
  type RunningServer,
  type ServerDeps,
  type ServerLog,
  type ServerParts,
  type TokenScope,
} from '../../src/index.js';
import type { TestChain } from './chain.js';
import { openTestRepository } from './database.js';

export { TOKEN_SCOPES };

/** Small body limits, so that bodies above them cost little to send. */
export const WIRED_LIMITS = { maxJsonBytes: 32 * 1024, maxFirmwareBytes: 64 * 1024 } as const;

/** Every way a request can carry (or fail to carry) an API token. */
export type AuthVariant =
  | 'none'
  | 'empty'
  | 'basic'
  | 'lowercase-bearer'
  | 'bearer-no-token'
  | 'not-a-token'
  | 'two-tokens'
  | 'unknown'
  | 'wrong-secret'
  | 'expired'
  | 'revoked'
  | `scope:${TokenScope}`;

export const BAD_AUTH: readonly AuthVariant[] = [
  'none',
  'empty',
  'basic',
  'lowercase-bearer',
  'bearer-no-token',
  'not-a-token',
  'two-tokens',
  'unknown',
  'wrong-secret',
  'expired',
  'revoked',
];

export interface WiredServer {
  server: RunningServer;
  /** The same routes as `server`, not listening: for `app.routes`. */
  parts: ServerParts;
  /** A valid token of each scope. */
  tokens: Record<TokenScope, string>;
  /** Tokens of this server refused with 401 TOKEN_EXPIRED / TOKEN_REVOKED. */
  expiredToken: string;
  revokedToken: string;
  /** The Authorization header (if any) of an auth variant. */
  authHeader(auth: AuthVariant): Record<string, string>;
  /** Names that exist on this server (release id, supplier, target file names, serials...). */
  known: string[];
  /** Served metadata documents, to mutate into uploads. */
  metadataCorpus: Uint8Array[];
  /** Uploads an image and releases it, its attestation signed by the OEM build key. */
  publishFirmware(input: FirmwareInput): Promise<{ releaseId: number; sha256: string }>;
  close(): Promise<void>;
}

export interface FirmwareInput {
  name: string;
  image: Uint8Array;
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed25519 = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);

/**
 * Every part wired as in production, on loopback: SQLite in a temp dir, keys generated now, the
 * chain writer and reader on `chain`, the vehicle CA, the transparency log with anchoring. Seeded
 * with one release, one supplier, one enrolled vehicle and one install report, so that requests
 * reach past "not found".
 */
export async function startWiredServer(
  chain: TestChain,
  opts: { config?: ConfigInput } = {},
): Promise<WiredServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-wired-'));
  const repo = await openTestRepository({ dataDir: dir });
  const online = { targets: ed25519(), snapshot: ed25519(), timestamp: ed25519() };
  const firmware = ed25519();
  const vehicleCa = await createVehicleCa({ commonName: 'Wired Vehicle CA' });
  const writer = chain.writer();
  await initRepository({
    store: repo.store,
    rootSigners: [ed25519(), ed25519()],
    threshold: 2,
    onlineSigners: online,
    releaseLog: writer,
  });
  const log: ServerLog = await openServerLog({
    dataDir: dir,
    origin: 'tufchain.test/wired',
    noteKey: generateKeyPairSync('ed25519').privateKey,
    anchoring: {
      signer: chain.operator(),
      contractAddress: chain.contractAddress,
      chainId: chain.chain.chainId,
      fromBlock: chain.deployBlock,
      config: { confirmations: 1, pollIntervalMs: 20, intervalMs: 200, batchSize: 4 },
    },
    logger: pino({ level: 'silent' }),
  });
  // The Director, its root made by the offline ceremony (1 of 1 here).
  const directorRootKey = ed25519();
  const directorOnline = { targets: ed25519(), snapshot: ed25519(), timestamp: ed25519() };
  let ceremony = initRootCeremony({
    root: { keys: [directorRootKey.publicKey], threshold: 1 },
    targets: { keys: [directorOnline.targets.publicKey], threshold: 1 },
    snapshot: { keys: [directorOnline.snapshot.publicKey], threshold: 1 },
    timestamp: { keys: [directorOnline.timestamp.publicKey], threshold: 1 },
    expires: new Date(Date.now() + 365 * 86_400_000),
  });
  ceremony = await signRootCeremony(ceremony, directorRootKey);
  await initDirectorFromRoot({
    store: repo.director,
    rootBytes: new TextEncoder().encode(JSON.stringify(finalizeRootCeremony(ceremony))),
    signers: directorOnline,
    clock: () => new Date(),
  });
  const reader = chain.reader();
  const deps: ServerDeps = {
    store: repo.store,
    blobs: repo.blobs,
    signers: online,
    releaseLog: writer,
    firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
    vehicleCa,
    transparencyLog: log,
    chainLookup: reader,
    chainProbe: () => chain.provider.getBlockNumber(),
    chainHead: () => chain.blockNumber(),
    // A monitor with nothing to report: without one GET /api/v1/monitor/alerts answers 503.
    monitorAlerts: () => [],
    director: { store: repo.director, signers: directorOnline, lock: repo.directorLock },
    fleet: repo.fleet,
    campaigns: repo.campaigns,
    publishLock: repo.publishLock,
    config: { resignIntervalMs: 0, ...WIRED_LIMITS, ...opts.config },
  };
  const server = await startServer({ port: 0, deps });
  const parts = createServerParts(deps);

  const tokens = {} as Record<TokenScope, string>;
  for (const scope of TOKEN_SCOPES) {
    tokens[scope] = (
      await createApiToken(repo.store, { name: `wired-${scope}`, scopes: [scope] })
    ).token;
  }
  const hourAgo = new Date(Date.now() - 3_600_000);
  const expiredToken = (
    await createApiToken(repo.store, {
      name: 'wired-expired',
      scopes: ['admin'],
      now: new Date(hourAgo.getTime() - 60_000),
      expiresAt: hourAgo,
    })
  ).token;
  const revoked = await createApiToken(repo.store, { name: 'wired-revoked', scopes: ['admin'] });
  await repo.store.revokeToken(revoked.id, new Date().toISOString());
  // A token whose id the fuzzer may revoke without locking itself out.
  const spare = await createApiToken(repo.store, { name: 'wired-spare', scopes: ['publish'] });

  const call = async (
    method: string,
    path: string,
    token: string,
    body?: unknown,
    raw?: Uint8Array,
  ) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : raw ? { body: raw } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300)
      throw new Error(`seeding ${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  const publishFirmware = async ({ name, image, ...claims }: FirmwareInput) => {
    await call('PUT', `/api/v1/firmware/${name}`, tokens.publish, undefined, image);
    const attestation = await signFirmwareAttestation(
      { name, sha256: sha256(image), ...claims },
      firmware,
    );
    const published = (await call('POST', '/api/v1/releases', tokens.publish, {
      targets: [{ name, ...claims, attestation }],
    })) as { release: { id: number } };
    return { releaseId: published.release.id, sha256: sha256(image) };
  };
  const name = 'gw-1.0.0.img';
  const image = randomBytes(3000);
  const published = {
    release: {
      id: (
        await publishFirmware({
          name,
          image,
          hardwareIds: ['gw-rev3'],
          version: '1.0.0',
          releaseCounter: 1,
        })
      ).releaseId,
    },
  };
  const supplierKey = toTufPublicKey(generateKeyPair('ed25519').privateKey);
  await call('POST', '/api/v1/suppliers', tokens.admin, {
    id: 'acme',
    hardwareIds: ['acme-brake'],
    keys: [supplierKey],
    threshold: 1,
  });
  const vehicleKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const vinCommitment = computeVinCommitment('WVWZZZ1JZXW000001', randomBytes(32));
  const csr = await createVehicleCsr(vehicleKey, {
    vinCommitment,
    ecuSerial: 'GW-0001',
  });
  const enrolled = (await call('POST', '/api/v1/vehicles/enroll', tokens.enroll, { csr })) as {
    serialNumber: string;
  };
  // Its ECU inventory (vehicle-signed) and an assignment, so that Director requests get past
  // "not found".
  const vehicleSigner = createKeySigner(vehicleKey);
  const vehicleCall = async (method: string, path: string, body?: unknown) => {
    const url = `${server.url}${path}`;
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = await signVehicleRequest(
      { method, url, ...(bytes ? { body: new Uint8Array(bytes) } : {}) },
      { keyid: enrolled.serialNumber, sign: (d) => vehicleSigner.sign(d) },
    );
    const res = await fetch(url, {
      method,
      headers: { ...headers, ...(bytes ? { 'content-type': 'application/json' } : {}) },
      ...(bytes ? { body: bytes } : {}),
    });
    if (res.status >= 300) throw new Error(`seeding ${method} ${path}: ${res.status}`);
  };
  await vehicleCall('PUT', '/api/v1/director/ecus', {
    primary_ecu_serial: 'GW-0001',
    ecus: [
      {
        ecu_serial: 'GW-0001',
        hardware_identifier: 'gw-rev3',
        primary: true,
        clientKey: vehicleSigner.publicKey,
      },
    ],
  });
  const assigned = (await call('POST', '/api/v1/director/assignments', tokens.admin, {
    vehicle: vinCommitment,
    images: [{ ecuSerial: 'GW-0001', name }],
  })) as { assignment: { id: number } };

  const metadataCorpus: Uint8Array[] = [];
  for (const file of [
    'root.json',
    'timestamp.json',
    '1.snapshot.json',
    '1.targets.json',
    '1.bins.json',
  ]) {
    const res = await fetch(`${server.url}/metadata/${file}`);
    if (res.status === 200) metadataCorpus.push(new Uint8Array(await res.arrayBuffer()));
  }

  const authHeader = (auth: AuthVariant): Record<string, string> => {
    const admin = tokens.admin;
    const bearer = (v: string) => ({ authorization: `Bearer ${v}` });
    switch (auth) {
      case 'none':
        return {};
      case 'empty':
        return { authorization: '' };
      case 'basic':
        return { authorization: 'Basic YWRtaW46YWRtaW4=' };
      case 'lowercase-bearer':
        return { authorization: `bearer ${admin}` };
      case 'bearer-no-token':
        return { authorization: 'Bearer ' };
      case 'not-a-token':
        return bearer('nope');
      case 'two-tokens':
        return { authorization: `Bearer ${admin} ${admin}` };
      case 'unknown':
        return bearer(`tct_0123456789abcdef_${'A'.repeat(43)}`);
      case 'wrong-secret':
        return bearer(`${admin.slice(0, 21)}${'B'.repeat(43)}`);
      case 'expired':
        return bearer(expiredToken);
      case 'revoked':
        return bearer(revoked.token);
      default:
        return bearer(tokens[auth.slice('scope:'.length) as TokenScope]);
    }
  };

  return {
    server,
    parts,
    tokens,
    authHeader,
    expiredToken,
    revokedToken: revoked.token,
    known: [
      String(published.release.id),
      name,
      `${sha256(image)}.${name}`,
      `${sha256(image)}.${name}.sigstore.json`,
      'acme',
      'acme-brake',
      'gw-rev3',
      enrolled.serialNumber,
      vinCommitment,
      'GW-0001',
      String(assigned.assignment.id),
      spare.id,
      '1.root.json',
      '2.targets.json',
      '1.bins.json',
      'timestamp.json',
    ],
    metadataCorpus,
    publishFirmware,
    async close() {
      await server.close();
      await log.close();
      reader.destroy();
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
