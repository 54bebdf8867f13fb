import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metadata, MetadataKind, type Root, type Targets } from '@tufjs/models';
import {
  computeKeyId,
  createKeySigner,
  generateKeyPair,
  signMetadata,
  signStatementBundle,
  toTufPublicKey,
  type Signer,
  type VehicleIdentity,
} from '@tufchain/keys';
import { INSTALL_PREDICATE_TYPE, type InstallPredicate, type LogService } from '../../src/index.js';

const EXPIRES = '2099-01-01T00:00:00Z';

export function newSigner(): Signer {
  return createKeySigner(generateKeyPair('ed25519').privateKey);
}

export function signedRoot(opts: {
  version: number;
  root: Signer[];
  targets: Signer[];
  threshold?: number;
}): Metadata<Root> {
  const keys: Record<string, unknown> = {};
  for (const s of [...opts.root, ...opts.targets]) keys[s.keyId] = s.publicKey;
  const role = (signers: Signer[]) => ({
    keyids: signers.map((s) => s.keyId),
    threshold: opts.threshold ?? 1,
  });
  const md = Metadata.fromJSON(MetadataKind.Root, {
    signed: {
      _type: 'root',
      spec_version: '1.0.31',
      version: opts.version,
      expires: EXPIRES,
      consistent_snapshot: true,
      keys,
      roles: {
        root: role(opts.root),
        targets: role(opts.targets),
        snapshot: role(opts.targets),
        timestamp: role(opts.targets),
      },
    },
    signatures: [],
  } as never);
  return md;
}

export interface FirmwareSpec {
  name: string;
  bytes: Uint8Array;
  hardwareIds: string[];
  releaseCounter: number;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function signedTargets(
  version: number,
  firmware: FirmwareSpec[],
  signers: Signer[],
): Promise<Uint8Array> {
  const targets: Record<string, unknown> = {};
  for (const f of firmware) {
    targets[f.name] = {
      length: f.bytes.length,
      hashes: {
        sha256: sha256(f.bytes),
        sha512: createHash('sha512').update(f.bytes).digest('hex'),
      },
      custom: {
        kind: 'firmware',
        hardwareIds: f.hardwareIds,
        version: `1.${f.releaseCounter}.0`,
        releaseCounter: f.releaseCounter,
      },
    };
  }
  let md: Metadata<Targets> = Metadata.fromJSON(MetadataKind.Targets, {
    signed: { _type: 'targets', spec_version: '1.0.31', version, expires: EXPIRES, targets },
    signatures: [],
  } as never);
  for (const s of signers) md = await signMetadata(md, s);
  return new Uint8Array(Buffer.from(JSON.stringify(md.toJSON())));
}

export async function rootBytes(md: Metadata<Root>, signers: Signer[]): Promise<Uint8Array> {
  for (const s of signers) await signMetadata(md, s);
  return new Uint8Array(Buffer.from(JSON.stringify(md.toJSON())));
}

/** The repository state the loopback "server" publishes. */
export interface RepoState {
  roots: Map<number, Uint8Array>;
  targets: Map<number, Uint8Array>;
  attestations: unknown[];
}

/** A loopback HTTP server exposing the update server's public audit routes over RepoState. */
export async function serveRepo(
  state: RepoState,
  logService?: () => LogService | undefined,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    const logs = logService?.();
    if (logs && url.startsWith('/api/v1/log/')) {
      const u = new URL(url, 'http://x');
      const q = (k: string) => Number(u.searchParams.get(k));
      const answer = async () => {
        if (u.pathname === '/api/v1/log/checkpoints') return logs.checkpoints();
        if (u.pathname === '/api/v1/log/entries') return logs.entries(q('start'), q('end'));
        if (u.pathname === '/api/v1/log/proof-bundle') return logs.proofBundle(q('index'));
        throw new Error('no route');
      };
      answer().then(
        (body) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        },
        (err: { code?: string }) => {
          res.writeHead(err.code === 'NOT_ANCHORED' ? 409 : 400, {
            'content-type': 'application/json',
          });
          res.end(
            JSON.stringify({
              error: { code: err.code ?? 'BAD_REQUEST', message: 'log route failed' },
            }),
          );
        },
      );
      return;
    }
    let m: RegExpMatchArray | null;
    const send = (status: number, body: Uint8Array | string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (url === '/api/v1/audit/targets-versions')
      return send(200, JSON.stringify({ versions: [...state.targets.keys()] }));
    if (url === '/api/v1/attestations')
      return send(200, JSON.stringify({ attestations: state.attestations }));
    if ((m = /^\/metadata\/(\d+)\.(root|targets)\.json$/.exec(url))) {
      const body = (m[2] === 'root' ? state.roots : state.targets).get(Number(m[1]));
      return body
        ? send(200, body)
        : send(404, '{"error":{"code":"NOT_FOUND","message":"no such metadata"}}');
    }
    return send(404, '{"error":{"code":"NOT_FOUND","message":"no route"}}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function installBundle(
  vehicle: VehicleIdentity,
  to: { name: string; digest: string; releaseCounter: number },
  metadata: { targetsVersion: number; targetsHash: string },
  extra: Partial<InstallPredicate> = {},
): Promise<unknown> {
  const predicate: InstallPredicate = {
    vehicle: { commitment: vehicle.vinCommitment },
    ecu: { serial: vehicle.ecuSerial, hardwareId: 'ecu-brake-v1' },
    from: null,
    to: {
      name: to.name,
      version: `1.${to.releaseCounter}.0`,
      releaseCounter: to.releaseCounter,
      digest: to.digest,
    },
    result: 'SUCCESS',
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    finishedAt: new Date().toISOString(),
    odometerKm: 1000,
    counter: 1,
    metadata,
    checkpoint: { chainId: 31337, blockNumber: 1, blockHash: '0x' + '0'.repeat(64), timestamp: 1 },
    ...extra,
  };
  const signer = createKeySigner(vehicle.privateKey);
  return signStatementBundle(
    {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: to.name, digest: { sha256: to.digest.replace(/^0x/, '') } }],
      predicateType: INSTALL_PREDICATE_TYPE,
      predicate,
    },
    signer,
    { certificatePem: vehicle.certificatePem },
  );
}

export { computeKeyId, toTufPublicKey };
