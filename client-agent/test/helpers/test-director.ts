/**
 * A test Director (transparency/UPTANE.md) for the agent's tests, served by the fixture's loopback
 * HTTP server beside the image repository: its own root and online keys (@tufjs/models, generated
 * now), per-vehicle targets/snapshot/timestamp chains under /director/metadata, vehicles
 * authenticated by RFC 9421 request signatures with their certificate's key, each targets version
 * appended to a Merkle log whose signed checkpoint and inclusion proof are the log promise, and a
 * manifest intake. The agent never imports @tufchain/server; the server's Director follows the
 * same profile.
 */
import {
  sign as cryptoSign,
  createHash,
  randomBytes,
  generateKeyPairSync,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Metadata, MetaFile, Root, Signature, Snapshot, Targets, Timestamp } from '@tufjs/models';
import {
  canonicalJson,
  createNoteSigner,
  formatVerifierKey,
  hashLeaf,
  inclusionProof,
  MemoryTree,
  signCheckpoint,
  type NoteSigner,
} from '@tufchain/transparency';
import {
  computeEcuCommitment,
  DIRECTOR_LOG_PROMISE_MEDIA_TYPE,
  verifyEnvelope,
} from '@tufchain/transparency/wire';
import { generateTufKey, sha256hex, type TestKey, type TestRepository } from './tuf-repo.js';

export const LOG_ORIGIN = 'tufchain.test/log';

export interface DirectorImage {
  ecuSerial: string;
  hardwareId: string;
  name: string;
  length: number;
  sha256: string;
  sha512?: string;
  releaseCounter: number;
}

interface VehicleChain {
  commitment: string;
  publicKey: KeyObject;
  version: number;
  files: Map<string, Buffer>;
  promises: Map<number, unknown>;
  /** Serve another vehicle's chain to this one (the replay attack). */
  servedFrom?: VehicleChain;
}

function sign(md: Metadata<Root | Targets | Snapshot | Timestamp>, key: TestKey): void {
  md.sign(
    (data: Buffer) =>
      new Signature({
        keyID: key.keyId,
        sig: cryptoSign(null, data, key.privateKey).toString('hex'),
      }),
    true,
  );
}

function isoIn(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class TestDirector {
  readonly keys = {
    root: generateTufKey(),
    targets: generateTufKey(),
    snapshot: generateTufKey(),
    timestamp: generateTufKey(),
  };
  /** The first root (what ECUs are provisioned with). */
  readonly rootBytes: Buffer;
  /** Every root version, served publicly at /director/metadata/N.root.json. */
  readonly roots = new Map<number, Buffer>();
  #root!: Metadata<Root>;
  readonly vehicles = new Map<string, VehicleChain>();
  readonly tree = new MemoryTree();
  readonly entries: Uint8Array[] = [];
  readonly logSigner: NoteSigner;
  readonly logKey: string;
  /** Manifests received (parsed), and whether the primary's signature verified. */
  readonly manifests: { manifest: unknown; primaryVerified: boolean }[] = [];
  /** Set to refuse every manifest with this answer (nothing recorded). */
  refuseManifests: { status: number; code: string } | undefined;
  /** Requests refused for a missing or bad signature. */
  refusedRequests = 0;

  constructor(repo: TestRepository) {
    const root = new Root({
      version: 1,
      specVersion: '1.0.31',
      expires: isoIn(365),
      consistentSnapshot: true,
    });
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const)
      root.addKey(this.keys[role].key, role);
    const md = new Metadata(root);
    sign(md, this.keys.root);
    this.rootBytes = Buffer.from(JSON.stringify(md.toJSON()));
    this.#root = md;
    this.roots.set(1, this.rootBytes);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.logSigner = createNoteSigner('tufchain.test-log', privateKey);
    this.logKey = formatVerifierKey('tufchain.test-log', publicKey);
    repo.prefixHandlers.push({
      prefix: '/director/',
      handler: (req, res, body) => this.#handle(req, res, body, repo),
    });
    repo.prefixHandlers.push({
      prefix: '/api/v1/director/',
      handler: (req, res, body) => this.#handle(req, res, body, repo),
    });
  }

  /**
   * Publishes root version N+1 with a new root key and a new targets key, signed by the old and
   * the new root keys: an ECU pinned at an earlier root verifies later targets only by walking
   * the chain of roots.
   */
  rotateRoot(): void {
    const oldRootKey = this.keys.root;
    this.keys.root = generateTufKey();
    this.keys.targets = generateTufKey();
    const prev = this.#root.signed;
    const root = new Root({
      version: prev.version + 1,
      specVersion: prev.specVersion,
      expires: prev.expires,
      consistentSnapshot: true,
    });
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const)
      root.addKey(this.keys[role].key, role);
    const md = new Metadata(root);
    sign(md, oldRootKey);
    sign(md, this.keys.root);
    this.#root = md;
    this.roots.set(root.version, Buffer.from(JSON.stringify(md.toJSON())));
  }

  /** Enrolls a vehicle by its certificate (the serial is the request signatures' keyid). */
  enroll(certificatePem: string, commitment: string): VehicleChain {
    const cert = new X509Certificate(certificatePem);
    const v: VehicleChain = {
      commitment: commitment.replace(/^0x/, '').toLowerCase(),
      publicKey: cert.publicKey,
      version: 0,
      files: new Map(),
      promises: new Map(),
    };
    this.vehicles.set(cert.serialNumber.toLowerCase(), v);
    return v;
  }

  /**
   * Signs the vehicle's next targets version assigning `images`, appends it to the log (unless
   * `logged: false`) and re-signs snapshot and timestamp.
   */
  async assign(
    v: VehicleChain,
    images: DirectorImage[],
    opts: {
      correlationId?: string | null;
      atomic?: boolean;
      logged?: boolean;
      vehicle?: string;
      signWith?: TestKey;
    } = {},
  ): Promise<{ version: number; targetsBytes: Buffer }> {
    v.version += 1;
    const targets: Record<string, unknown> = {};
    for (const img of images) {
      const existing = targets[img.name] as
        { custom: { ecuIdentifiers: Record<string, unknown> } } | undefined;
      if (existing) {
        existing.custom.ecuIdentifiers[img.ecuSerial] = { hardwareId: img.hardwareId };
        continue;
      }
      targets[img.name] = {
        length: img.length,
        hashes: { sha256: img.sha256, ...(img.sha512 ? { sha512: img.sha512 } : {}) },
        custom: {
          ecuIdentifiers: { [img.ecuSerial]: { hardwareId: img.hardwareId } },
          releaseCounter: img.releaseCounter,
        },
      };
    }
    const correlationId =
      opts.correlationId === undefined
        ? `urn:tufchain:assignment:t${v.version}`
        : opts.correlationId;
    const md = new Metadata(
      Targets.fromJSON({
        _type: 'targets',
        spec_version: '1.0.31',
        version: v.version,
        expires: isoIn(7),
        targets,
        custom: {
          vehicle: opts.vehicle ?? v.commitment,
          correlationId,
          atomic: opts.atomic ?? true,
        },
      } as never),
    );
    sign(md, opts.signWith ?? this.keys.targets);
    const targetsBytes = Buffer.from(JSON.stringify(md.toJSON()));
    v.files.set(`${v.version}.targets.json`, targetsBytes);
    const snapshot = new Metadata(
      new Snapshot({
        version: v.version,
        specVersion: '1.0.31',
        expires: isoIn(7),
        meta: { 'targets.json': new MetaFile({ version: v.version }) },
      }),
    );
    sign(snapshot, this.keys.snapshot);
    const snapshotBytes = Buffer.from(JSON.stringify(snapshot.toJSON()));
    v.files.set(`${v.version}.snapshot.json`, snapshotBytes);
    const timestamp = new Metadata(
      new Timestamp({
        version: v.version,
        specVersion: '1.0.31',
        expires: isoIn(1),
        snapshotMeta: new MetaFile({
          version: v.version,
          length: snapshotBytes.length,
          hashes: { sha256: sha256hex(snapshotBytes) },
        }),
      }),
    );
    sign(timestamp, this.keys.timestamp);
    v.files.set('timestamp.json', Buffer.from(JSON.stringify(timestamp.toJSON())));
    if (opts.logged ?? true) {
      const ecuSalt = randomBytes(32);
      const entry = {
        type: 'director-targets',
        vehicle: v.commitment,
        targetsVersion: v.version,
        targetsHash: sha256hex(targetsBytes),
        correlationId,
        images: images.map((i) => ({
          ecu: computeEcuCommitment(i.ecuSerial, ecuSalt),
          hardwareId: i.hardwareId,
          name: i.name,
          sha256: i.sha256,
          releaseCounter: i.releaseCounter,
        })),
      };
      v.promises.set(
        v.version,
        await this.#promise(new Uint8Array(Buffer.from(canonicalJson(entry)))),
      );
    }
    return { version: v.version, targetsBytes };
  }

  /** Appends an entry and answers its promise: signed checkpoint at the new size, inclusion proof. */
  async #promise(data: Uint8Array): Promise<unknown> {
    const index = this.tree.size;
    this.tree.appendHash(hashLeaf(data));
    this.entries.push(data);
    const size = this.tree.size;
    const note = await signCheckpoint(
      { origin: LOG_ORIGIN, size, rootHash: this.tree.root(size), extensions: [] },
      [this.logSigner],
    );
    return {
      mediaType: DIRECTOR_LOG_PROMISE_MEDIA_TYPE,
      entry: { index, data: Buffer.from(data).toString('base64') },
      inclusionProof: {
        treeSize: size,
        hashes: inclusionProof(this.tree, index, size).map((h) =>
          Buffer.from(h).toString('base64'),
        ),
      },
      checkpoint: note,
    };
  }

  /** The vehicle whose key signed this request (RFC 9421), or undefined. */
  #authenticate(
    req: IncomingMessage,
    body: Buffer | undefined,
    repo: TestRepository,
  ): VehicleChain | undefined {
    const input = String(req.headers['signature-input'] ?? '');
    const sig = /^sig1=:([A-Za-z0-9+/=]+):$/.exec(String(req.headers['signature'] ?? ''));
    const m = /^sig1=(\(([^)]*)\);created=(\d+);keyid="([0-9a-f]+)";alg="ecdsa-p256-sha256")$/.exec(
      input,
    );
    if (!m || !sig) return undefined;
    const [, params, components, created, keyid] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const v = this.vehicles.get(keyid);
    if (!v || Math.abs(Date.now() / 1000 - Number(created)) > 300) return undefined;
    const lines: string[] = [];
    for (const c of components.split(' ')) {
      if (c === '"@method"') lines.push(`"@method": ${req.method ?? ''}`);
      else if (c === '"@target-uri"') lines.push(`"@target-uri": ${repo.url}${req.url ?? ''}`);
      else if (c === '"content-digest"') {
        const digest = `sha-256=:${createHash('sha256')
          .update(body ?? Buffer.alloc(0))
          .digest('base64')}:`;
        if (req.headers['content-digest'] !== digest) return undefined;
        lines.push(`"content-digest": ${digest}`);
      } else return undefined;
    }
    if (body && !components.includes('"content-digest"')) return undefined;
    lines.push(`"@signature-params": ${params}`);
    const ok = verify(
      'sha256',
      Buffer.from(lines.join('\n')),
      { key: v.publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(sig[1] as string, 'base64'),
    );
    return ok ? v : undefined;
  }

  #handle(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | undefined,
    repo: TestRepository,
  ): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const json = (status: number, value: unknown): void => {
      res
        .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify(value));
    };
    const rootVersion = /^\/director\/metadata\/(\d+)\.root\.json$/.exec(path);
    if (req.method === 'GET' && rootVersion) {
      const bytes = this.roots.get(Number(rootVersion[1]));
      if (bytes) res.writeHead(200).end(bytes);
      else json(404, { error: { code: 'NOT_FOUND', message: path } });
      return;
    }
    const vehicle = this.#authenticate(req, body, repo);
    if (!vehicle) {
      this.refusedRequests += 1;
      json(401, {
        error: { code: 'VEHICLE_SIGNATURE_INVALID', message: 'bad or missing signature' },
      });
      return;
    }
    const served = vehicle.servedFrom ?? vehicle;
    if (req.method === 'GET' && path.startsWith('/director/metadata/')) {
      const file = served.files.get(path.slice('/director/metadata/'.length));
      if (!file) {
        json(404, { error: { code: 'NOT_FOUND', message: path } });
        return;
      }
      res.writeHead(200, { 'cache-control': 'no-store' }).end(file);
      return;
    }
    if (req.method === 'GET' && path === '/director/log-promise') {
      const p = served.promises.get(Number(url.searchParams.get('version')));
      if (!p) json(404, { error: { code: 'NOT_LOGGED', message: 'no promise' } });
      else json(200, p);
      return;
    }
    if (req.method === 'POST' && path === '/api/v1/director/manifest') {
      if (this.refuseManifests) {
        json(this.refuseManifests.status, {
          error: { code: this.refuseManifests.code, message: 'refused' },
        });
        return;
      }
      let manifest: { signatures?: { keyid: string }[]; signed?: unknown } = {};
      try {
        manifest = JSON.parse(String(body)) as typeof manifest;
      } catch {
        json(400, { error: { code: 'MALFORMED_MANIFEST', message: 'not JSON' } });
        return;
      }
      let primaryVerified: boolean;
      const pub = vehicle.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const keyid = manifest.signatures?.[0]?.keyid ?? '';
      try {
        verifyEnvelope(manifest as never, keyid, {
          keytype: 'ecdsa',
          scheme: 'ecdsa-sha2-nistp256',
          keyval: { public: pub },
        });
        primaryVerified = true;
      } catch {
        primaryVerified = false;
      }
      this.manifests.push({ manifest, primaryVerified });
      json(
        primaryVerified ? 200 : 422,
        primaryVerified
          ? { accepted: true }
          : { error: { code: 'MANIFEST_SIGNATURE_INVALID', message: '' } },
      );
      return;
    }
    json(404, { error: { code: 'NOT_FOUND', message: path } });
  }
}
