/**
 * A real TUF repository built with @tufjs/models and served over node:http on loopback, for the
 * agent's tests (the agent never imports @tufchain/server). Consistent snapshots, ed25519 keys
 * generated at test time, the server's layout: metadata/{N}.root.json, timestamp.json,
 * {N}.snapshot.json, {N}.targets.json; targets/{sha256}.{name}.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { canonicalize } from '@tufjs/canonical-json';
import {
  Key,
  Metadata,
  MetaFile,
  Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';

export interface TestKey {
  keyId: string;
  privateKey: KeyObject;
  key: Key;
}

export function generateTufKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const pub = Buffer.from(jwk.x ?? '', 'base64url').toString('hex');
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub } };
  const keyId = createHash('sha256').update(canonicalize(json)).digest('hex');
  return {
    keyId,
    privateKey,
    key: new Key({ keyID: keyId, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: pub } }),
  };
}

function signWith(md: Metadata<Root | Targets | Snapshot | Timestamp>, keys: TestKey[]): void {
  for (const k of keys) {
    md.sign(
      (data: Buffer) =>
        new Signature({ keyID: k.keyId, sig: sign(null, data, k.privateKey).toString('hex') }),
      true,
    );
  }
}

export function sha256hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
export function sha512hex(b: Uint8Array): string {
  return createHash('sha512').update(b).digest('hex');
}

function isoIn(days: number, from = new Date()): string {
  return new Date(from.getTime() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface Published {
  targetsVersion: number;
  targetsBytes: Buffer;
  targetsHash: string;
  /** What the chain logs: the snapshot of this publish. */
  snapshotVersion: number;
  snapshotBytes: Buffer;
  snapshotHash: string;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer | undefined) => void;

export class TestRepository {
  readonly keys: Record<'root' | 'targets' | 'snapshot' | 'timestamp', TestKey>;
  root: Metadata<Root>;
  rootVersions = new Map<number, Buffer>();
  targets: Record<string, TargetFile> = {};
  targetsVersion = 0;
  snapshotVersion = 0;
  timestampVersion = 0;
  /** What the server serves, by URL path. */
  readonly files = new Map<string, Buffer>();
  /** Per-path overrides to play a hostile server. */
  readonly overrides = new Map<string, Handler>();
  /** Handlers for every path under a prefix (the test Director under /director, /api/v1/director). */
  readonly prefixHandlers: { prefix: string; handler: Handler }[] = [];
  /** Every request path, in order. */
  readonly requests: string[] = [];
  expiresDays = 30;
  /** Days until the supplier's delegated role expires (default: expiresDays). */
  supplierExpiresDays: number | undefined;
  /** A hardware-ID-scoped supplier delegation, in the server's layout (see delegateSupplier). */
  supplier:
    | { role: string; key: TestKey; hardwareIds: string[]; targets: Record<string, TargetFile> }
    | undefined;
  #server: ReturnType<typeof createServer> | undefined;
  url = '';

  constructor() {
    this.keys = {
      root: generateTufKey(),
      targets: generateTufKey(),
      snapshot: generateTufKey(),
      timestamp: generateTufKey(),
    };
    const root = new Root({
      version: 1,
      specVersion: '1.0.31',
      expires: isoIn(365),
      consistentSnapshot: true,
    });
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
      root.addKey(this.keys[role].key, role);
    }
    this.root = new Metadata(root);
    signWith(this.root, [this.keys.root]);
    this.#storeRoot();
  }

  #storeRoot(): void {
    const bytes = Buffer.from(JSON.stringify(this.root.toJSON()));
    this.rootVersions.set(this.root.signed.version, bytes);
    this.files.set(`/metadata/${this.root.signed.version}.root.json`, bytes);
  }

  /** Publishes root version N+1 with a new root key, signed by the old and the new root keys. */
  rotateRoot(): void {
    const oldKey = this.keys.root;
    const newKey = generateTufKey();
    const signed = this.root.signed;
    const root = new Root({
      version: signed.version + 1,
      specVersion: signed.specVersion,
      expires: signed.expires,
      consistentSnapshot: true,
    });
    root.addKey(newKey.key, 'root');
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      root.addKey(this.keys[role].key, role);
    }
    this.root = new Metadata(root);
    signWith(this.root, [oldKey, newKey]);
    this.keys.root = newKey;
    this.#storeRoot();
  }

  rootBytes(version = 1): Buffer {
    const b = this.rootVersions.get(version);
    if (!b) throw new Error(`no root v${version}`);
    return b;
  }

  /** Adds a blob as a target (served at targets/{sha256}.{name}); `custom` goes into the TargetFile. */
  addTarget(name: string, bytes: Uint8Array, custom: Record<string, unknown>): TargetFile {
    const sha256 = sha256hex(bytes);
    const file = new TargetFile({
      path: name,
      length: bytes.length,
      hashes: { sha256, sha512: sha512hex(bytes) },
      unrecognizedFields: { custom: custom as never },
    });
    this.targets[name] = file;
    this.files.set(this.targetPath(name), Buffer.from(bytes));
    return file;
  }

  /**
   * Delegates `<hwid>/*` paths to a supplier key, scoped by `x-tufchain-hardware-ids` (the
   * server's layout). Targets added with `addTarget(..., { supplier: true })` go into its role.
   */
  delegateSupplier(role: string, hardwareIds: string[]): TestKey {
    const key = generateTufKey();
    this.supplier = { role, key, hardwareIds, targets: {} };
    return key;
  }

  /** Adds a target to the supplier's role (signed with the supplier key at publish). */
  addSupplierTarget(name: string, bytes: Uint8Array, custom: Record<string, unknown>): TargetFile {
    if (!this.supplier) throw new Error('no supplier delegation');
    const file = this.addTarget(name, bytes, custom);
    delete this.targets[name];
    this.supplier.targets[name] = file;
    this.files.set(this.#hashedPath(file), Buffer.from(bytes));
    return file;
  }

  /** Serves `GET /api/v1/hardware/{id}/latest` as the server does (the agent's discovery hint). */
  hint(hardwareId: string, name: string): void {
    this.files.set(
      `/api/v1/hardware/${hardwareId}/latest`,
      Buffer.from(JSON.stringify({ hardwareId, name })),
    );
  }

  #hashedPath(file: TargetFile): string {
    const slash = file.path.lastIndexOf('/');
    return `/targets/${file.path.slice(0, slash + 1)}${file.hashes['sha256']}.${file.path.slice(slash + 1)}`;
  }

  /** Adds a target served from a file on disk (for large images), with Range support. */
  addFileTarget(
    name: string,
    file: { path: string; length: number; sha256: string; sha512: string },
    custom: Record<string, unknown>,
  ): TargetFile {
    const target = new TargetFile({
      path: name,
      length: file.length,
      hashes: { sha256: file.sha256, sha512: file.sha512 },
      unrecognizedFields: { custom: custom as never },
    });
    this.targets[name] = target;
    this.overrides.set(this.targetPath(name), (req, res) =>
      serveFile(req, res, file.path, file.length),
    );
    return target;
  }

  /** Signs and publishes new targets, snapshot and timestamp versions. */
  publish(opts: { signTargetsWith?: TestKey[]; expiresDays?: number; now?: Date } = {}): Published {
    const expires = isoIn(opts.expiresDays ?? this.expiresDays, opts.now);
    this.targetsVersion += 1;
    const sup = this.supplier;
    const targets = new Metadata(
      Targets.fromJSON({
        _type: 'targets',
        spec_version: '1.0.31',
        version: this.targetsVersion,
        expires,
        targets: Object.fromEntries(
          Object.entries(this.targets).map(([name, file]) => [name, file.toJSON()]),
        ),
        ...(sup
          ? {
              delegations: {
                keys: { [sup.key.keyId]: sup.key.key.toJSON() },
                roles: [
                  {
                    name: sup.role,
                    keyids: [sup.key.keyId],
                    threshold: 1,
                    terminating: true,
                    paths: sup.hardwareIds.map((h) => `${h}/*`),
                    'x-tufchain-hardware-ids': sup.hardwareIds,
                  },
                ],
              },
            }
          : {}),
      }),
    );
    signWith(targets, opts.signTargetsWith ?? [this.keys.targets]);
    const targetsBytes = Buffer.from(JSON.stringify(targets.toJSON()));
    this.files.set(`/metadata/${this.targetsVersion}.targets.json`, targetsBytes);
    const meta: Record<string, MetaFile> = {
      'targets.json': new MetaFile({ version: this.targetsVersion }),
    };
    if (sup) {
      const role = new Metadata(
        new Targets({
          version: this.targetsVersion,
          specVersion: '1.0.31',
          expires:
            this.supplierExpiresDays === undefined
              ? expires
              : isoIn(this.supplierExpiresDays, opts.now),
          targets: { ...sup.targets },
        }),
      );
      signWith(role, [sup.key]);
      this.files.set(
        `/metadata/${this.targetsVersion}.${sup.role}.json`,
        Buffer.from(JSON.stringify(role.toJSON())),
      );
      meta[`${sup.role}.json`] = new MetaFile({ version: this.targetsVersion });
    }

    this.snapshotVersion += 1;
    const snapshot = new Metadata(
      new Snapshot({
        version: this.snapshotVersion,
        specVersion: '1.0.31',
        expires,
        meta,
      }),
    );
    signWith(snapshot, [this.keys.snapshot]);
    const snapshotBytes = Buffer.from(JSON.stringify(snapshot.toJSON()));
    this.files.set(`/metadata/${this.snapshotVersion}.snapshot.json`, snapshotBytes);

    this.timestampVersion += 1;
    const timestamp = new Metadata(
      new Timestamp({
        version: this.timestampVersion,
        specVersion: '1.0.31',
        expires,
        snapshotMeta: new MetaFile({
          version: this.snapshotVersion,
          length: snapshotBytes.length,
          hashes: { sha256: sha256hex(snapshotBytes) },
        }),
      }),
    );
    signWith(timestamp, [this.keys.timestamp]);
    this.files.set('/metadata/timestamp.json', Buffer.from(JSON.stringify(timestamp.toJSON())));
    return {
      targetsVersion: this.targetsVersion,
      targetsBytes,
      targetsHash: '0x' + sha256hex(targetsBytes),
      snapshotVersion: this.snapshotVersion,
      snapshotBytes,
      snapshotHash: '0x' + sha256hex(snapshotBytes),
    };
  }

  /** The served bytes of a target (by its TUF name). */
  targetPath(name: string): string {
    const t = this.targets[name] ?? this.supplier?.targets[name];
    if (!t) throw new Error(`no target ${name}`);
    // consistent snapshots: the hash prefixes the basename, as tuf-js requests it
    const slash = name.lastIndexOf('/');
    return `/targets/${name.slice(0, slash + 1)}${t.hashes['sha256']}.${name.slice(slash + 1)}`;
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      this.requests.push(path);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        const override =
          this.overrides.get(path) ??
          this.prefixHandlers.find((p) => path.startsWith(p.prefix))?.handler;
        if (override) {
          override(req, res, body);
          return;
        }
        const file = this.files.get(path);
        if (!file) {
          res.writeHead(404).end();
          return;
        }
        serveBytes(req, res, file);
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Streams a file with HTTP Range support (single range `bytes=N-`). */
export function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  length: number,
): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  res.writeHead(range ? 206 : 200, {
    'content-length': length - start,
    ...(range ? { 'content-range': `bytes ${start}-${length - 1}/${length}` } : {}),
  });
  createReadStream(path, { start, highWaterMark: 256 * 1024 }).pipe(res);
}

/** Serves bytes with HTTP Range support (single range `bytes=N-`). */
export function serveBytes(req: IncomingMessage, res: ServerResponse, file: Buffer): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) {
    const start = Number(range[1]);
    if (start >= file.length) {
      res.writeHead(416, { 'content-range': `bytes */${file.length}` }).end();
      return;
    }
    res.writeHead(206, {
      'content-length': file.length - start,
      'content-range': `bytes ${start}-${file.length - 1}/${file.length}`,
      'accept-ranges': 'bytes',
    });
    res.end(file.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': file.length, 'accept-ranges': 'bytes' });
  res.end(file);
}
