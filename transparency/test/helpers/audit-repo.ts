import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metadata, MetadataKind, Targets, type Snapshot, type Timestamp } from '@tufjs/models';
import { signFirmwareAttestation, signMetadata, type Signer } from '@tufchain/keys';
import { hardwareIdHash } from '@tufchain/contracts';
import type {
  AuditChain,
  AuditSource,
  LoggedRelease,
  LogService,
  ReleaseEntry,
  ReleaseLogWriter,
} from '../../src/index.js';
import { rootBytes, signedRoot } from './tuf-repo.js';

/**
 * A repository in layout v2 (top-level targets -> supplier-<id> roles scoped by hardware ID, then
 * `bins` -> TAP 15 `bins-XX`), built with @tufjs/models and keys from @tufchain/keys, that logs
 * every snapshot on chain the way the server does. Tests tamper with it to play the hacker.
 */

const EXPIRES = '2099-01-01T00:00:00Z';
const SPEC = '1.0.31';
export const HARDWARE_IDS_FIELD = 'x-tufchain-hardware-ids';

const hex = (b: Uint8Array, alg = 'sha256') => createHash(alg).update(b).digest('hex');
export const sha256Hex0x = (b: Uint8Array) => '0x' + hex(b);

export interface Supplier {
  id: string;
  hardwareIds: string[];
  signer: Signer;
}

export interface Firmware {
  /** Target path; supplier firmware lives under `<hardware ID>/`. */
  name: string;
  bytes: Uint8Array;
  hardwareIds: string[];
  releaseCounter: number;
}

interface RoleDraft {
  version: number;
  targets: Record<string, unknown>;
  delegations?: Record<string, unknown>;
  signers: Signer[];
  dirty: boolean;
}

export interface Published {
  version: number;
  hash: string;
  entry: ReleaseEntry;
}

export class AuditRepo {
  readonly roots = new Map<number, Uint8Array>();
  /** `${version}.${role}` -> the exact bytes served. */
  readonly files = new Map<string, Uint8Array>();
  readonly snapshots = new Set<number>();
  /** Target files by their consistent-snapshot path (`dir/<sha256>.<base>`). */
  readonly blobs = new Map<string, Uint8Array>();
  readonly attestations: unknown[] = [];
  /** timestamp.json as served now: it points at the newest served snapshot. */
  timestamp: Uint8Array | undefined;
  readonly roles = new Map<string, RoleDraft>();
  snapshotVersion = 0;
  private added: ReleaseEntry['firmware'] = [];
  private readonly succinct: NonNullable<NonNullable<Targets['delegations']>['succinctRoles']>;

  constructor(
    readonly keys: {
      root: Signer;
      /** Signs top-level targets and (signedRoot gives it both roles) snapshot. */
      targets: Signer;
      bins: Signer;
      build: Signer;
    },
    readonly writer: ReleaseLogWriter,
    readonly opts: { bitLength: number; suppliers: Supplier[] },
  ) {
    // @tufjs/models does not export SuccinctRoles; take it from a parsed bins delegation.
    this.succinct = Targets.fromJSON({
      _type: 'targets',
      spec_version: SPEC,
      version: 1,
      expires: EXPIRES,
      targets: {},
      delegations: {
        keys: { [keys.bins.keyId]: keys.bins.publicKey },
        succinct_roles: {
          keyids: [keys.bins.keyId],
          threshold: 1,
          bit_length: opts.bitLength,
          name_prefix: 'bins',
        },
      },
    } as never).delegations!.succinctRoles!;
  }

  /** Root v1, then either the v2 layout (targets, bins, every bin, suppliers) or a flat targets. */
  async init(layout: 'v2' | 'flat' = 'v2'): Promise<void> {
    const root = signedRoot({ version: 1, root: [this.keys.root], targets: [this.keys.targets] });
    this.roots.set(1, await rootBytes(root, [this.keys.root]));
    this.roles.set('targets', {
      version: 0,
      targets: {},
      signers: [this.keys.targets],
      dirty: true,
    });
    if (layout === 'v2') this.enableV2();
  }

  /** Adds the v2 delegations (to a flat repository too); every new role starts at version 1. */
  enableV2(): void {
    const top = this.roles.get('targets')!;
    const keys: Record<string, unknown> = {};
    const roles: Record<string, unknown>[] = [];
    for (const s of this.opts.suppliers) {
      keys[s.signer.keyId] = s.signer.publicKey;
      roles.push({
        name: `supplier-${s.id}`,
        keyids: [s.signer.keyId],
        threshold: 1,
        terminating: true,
        paths: s.hardwareIds.map((h) => `${h}/*`),
        [HARDWARE_IDS_FIELD]: s.hardwareIds,
      });
      this.roles.set(`supplier-${s.id}`, {
        version: 0,
        targets: {},
        signers: [s.signer],
        dirty: true,
      });
    }
    keys[this.keys.bins.keyId] = this.keys.bins.publicKey;
    roles.push({
      name: 'bins',
      keyids: [this.keys.bins.keyId],
      threshold: 1,
      terminating: true,
      paths: ['*', '*/*'],
    });
    top.delegations = { keys, roles };
    top.dirty = true;
    this.roles.set('bins', {
      version: 0,
      targets: {},
      delegations: {
        keys: { [this.keys.bins.keyId]: this.keys.bins.publicKey },
        succinct_roles: {
          keyids: [this.keys.bins.keyId],
          threshold: 1,
          bit_length: this.opts.bitLength,
          name_prefix: 'bins',
        },
      },
      signers: [this.keys.bins],
      dirty: true,
    });
    for (const bin of this.succinct.getRoles()) {
      this.roles.set(bin, { version: 0, targets: {}, signers: [this.keys.bins], dirty: true });
    }
  }

  binFor(path: string): string {
    return this.succinct.getRoleForTarget(path);
  }

  /** Where a v2 server puts a target: its supplier's role, else its hashed bin (flat: targets). */
  roleFor(path: string): string {
    if (!this.roles.has('bins')) return 'targets';
    const slash = path.indexOf('/');
    const supplier = this.opts.suppliers.find(
      (s) => slash > 0 && s.hardwareIds.includes(path.slice(0, slash)),
    );
    return supplier ? `supplier-${supplier.id}` : this.binFor(path);
  }

  /** Stages a firmware target and its Sigstore bundle target for the next publish. */
  async addFirmware(fw: Firmware, opts: { role?: string; bundleRole?: string } = {}) {
    const bundle = new Uint8Array(
      Buffer.from(
        JSON.stringify(
          await signFirmwareAttestation(
            {
              name: fw.name,
              sha256: hex(fw.bytes),
              hardwareIds: fw.hardwareIds,
              version: `1.${fw.releaseCounter}.0`,
              releaseCounter: fw.releaseCounter,
            },
            this.keys.build,
          ),
        ),
      ),
    );
    const bundleName = `${fw.name}.sigstore.json`;
    this.stage(opts.role ?? this.roleFor(fw.name), fw.name, fw.bytes, {
      kind: 'firmware',
      hardwareIds: fw.hardwareIds,
      version: `1.${fw.releaseCounter}.0`,
      releaseCounter: fw.releaseCounter,
      attestation: bundleName,
    });
    this.stage(opts.bundleRole ?? this.roleFor(bundleName), bundleName, bundle, {
      kind: 'attestation',
      subject: fw.name,
    });
    for (const hardwareId of fw.hardwareIds) {
      this.added.push({
        digest: sha256Hex0x(fw.bytes),
        hardwareId,
        version: fw.releaseCounter,
      });
    }
  }

  private stage(role: string, name: string, bytes: Uint8Array, custom: Record<string, unknown>) {
    const draft = this.roles.get(role);
    if (!draft) throw new Error(`no role ${role}`);
    draft.targets[name] = {
      length: bytes.length,
      hashes: { sha256: hex(bytes), sha512: hex(bytes, 'sha512') },
      custom,
    };
    draft.dirty = true;
    const slash = name.lastIndexOf('/');
    this.blobs.set(`${name.slice(0, slash + 1)}${hex(bytes)}.${name.slice(slash + 1)}`, bytes);
  }

  /** The signed bytes of a role draft at `version` (tamper helpers sign with other keys). */
  async signRole(role: string, version: number, signers?: Signer[]): Promise<Uint8Array> {
    const draft = this.roles.get(role)!;
    let md: Metadata<Targets> = Metadata.fromJSON(MetadataKind.Targets, {
      signed: {
        _type: 'targets',
        spec_version: SPEC,
        version,
        expires: EXPIRES,
        targets: draft.targets,
        ...(draft.delegations ? { delegations: draft.delegations } : {}),
      },
      signatures: [],
    } as never);
    for (const s of signers ?? draft.signers) md = await signMetadata(md, s);
    return new Uint8Array(Buffer.from(JSON.stringify(md.toJSON())));
  }

  /**
   * Re-signs every changed role (version + 1), signs snapshot N+1 pinning every role, logs it on
   * chain like the server (v2: the snapshot; flat: top-level targets) and serves it.
   */
  async publish(
    opts: {
      log?: boolean;
      serve?: boolean;
      firmware?: ReleaseEntry['firmware'];
      snapshotSigners?: Signer[];
      /** Also pin each role file's length and sha256 (TUF allows; the server omits them). */
      metaHashes?: boolean;
    } = {},
  ): Promise<Published> {
    for (const [role, draft] of this.roles) {
      if (!draft.dirty) continue;
      draft.version += 1;
      draft.dirty = false;
      this.files.set(`${draft.version}.${role}`, await this.signRole(role, draft.version));
    }
    this.snapshotVersion += 1;
    const version = this.snapshotVersion;
    const meta: Record<string, Record<string, unknown>> = {};
    for (const [role, draft] of [...this.roles].sort(([a], [b]) => a.localeCompare(b))) {
      const file = this.files.get(`${draft.version}.${role}`)!;
      meta[`${role}.json`] = opts.metaHashes
        ? { version: draft.version, length: file.length, hashes: { sha256: hex(file) } }
        : { version: draft.version };
    }
    let snapshot: Metadata<Snapshot> = Metadata.fromJSON(MetadataKind.Snapshot, {
      signed: { _type: 'snapshot', spec_version: SPEC, version, expires: EXPIRES, meta },
      signatures: [],
    } as never);
    for (const s of opts.snapshotSigners ?? [this.keys.targets])
      snapshot = await signMetadata(snapshot, s);
    const bytes = new Uint8Array(Buffer.from(JSON.stringify(snapshot.toJSON())));
    this.files.set(`${version}.snapshot`, bytes);
    const flat = !this.roles.has('bins');
    const top = this.roles.get('targets')!;
    const entry: ReleaseEntry = flat
      ? {
          metadataVersion: top.version,
          metadataHash: sha256Hex0x(this.files.get(`${top.version}.targets`)!),
          firmware: opts.firmware ?? this.added,
        }
      : {
          metadataVersion: version,
          metadataHash: sha256Hex0x(bytes),
          firmware: opts.firmware ?? this.added,
        };
    this.added = [];
    if (opts.log !== false) await this.writer.logRelease(entry);
    if (opts.serve !== false) {
      this.snapshots.add(version);
      let ts: Metadata<Timestamp> = Metadata.fromJSON(MetadataKind.Timestamp, {
        signed: {
          _type: 'timestamp',
          spec_version: SPEC,
          version,
          expires: EXPIRES,
          meta: {
            'snapshot.json': { version, length: bytes.length, hashes: { sha256: hex(bytes) } },
          },
        },
        signatures: [],
      });
      ts = await signMetadata(ts, this.keys.targets);
      this.timestamp = new Uint8Array(Buffer.from(JSON.stringify(ts.toJSON())));
    }
    return { version, hash: sha256Hex0x(bytes), entry };
  }

  /** The same routes as serve(), in memory, for unit tests. */
  source(): AuditSource {
    const need = <T>(v: T | undefined, what: string) =>
      v === undefined ? Promise.reject(new Error(`${what} not served`)) : Promise.resolve(v);
    return {
      snapshotVersions: () => Promise.resolve([...this.snapshots]),
      metadata: (role, version) =>
        role === 'snapshot' && !this.snapshots.has(version)
          ? Promise.reject(new Error(`${version}.snapshot.json not served`))
          : need(this.files.get(`${version}.${role}`), `${version}.${role}.json`),
      rootMetadata: (version) => Promise.resolve(this.roots.get(version) ?? null),
      timestamp: () => need(this.timestamp, 'timestamp.json'),
      attestations: () => Promise.resolve(this.attestations),
      targetFile: (name, sha256) => {
        const slash = name.lastIndexOf('/');
        const path = `${name.slice(0, slash + 1)}${sha256.replace(/^0x/, '')}.${name.slice(slash + 1)}`;
        return need(this.blobs.get(path), path);
      },
    };
  }

  /** A loopback HTTP server with the update server's public audit routes over this repository. */
  async serve(logService?: () => LogService | undefined): Promise<{
    url: string;
    close(): Promise<void>;
  }> {
    const server: Server = createServer((req, res) => {
      const url = req.url ?? '';
      const send = (status: number, body: Uint8Array | string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
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
          (body) => send(200, JSON.stringify(body)),
          (err: { code?: string }) =>
            send(
              err.code === 'NOT_ANCHORED' ? 409 : 400,
              JSON.stringify({ error: { code: err.code ?? 'BAD_REQUEST', message: 'failed' } }),
            ),
        );
        return;
      }
      const notFound = () => send(404, '{"error":{"code":"NOT_FOUND","message":"not found"}}');
      if (url === '/api/v1/audit/snapshot-versions')
        return send(200, JSON.stringify({ versions: [...this.snapshots] }));
      if (url === '/api/v1/attestations')
        return send(200, JSON.stringify({ attestations: this.attestations }));
      if (url === '/metadata/timestamp.json')
        return this.timestamp ? send(200, this.timestamp) : notFound();
      let m: RegExpExecArray | null;
      if ((m = /^\/metadata\/(\d+)\.([^/]+)\.json$/.exec(url))) {
        const role = decodeURIComponent(m[2]!);
        const version = Number(m[1]);
        if (role === 'root') {
          const body = this.roots.get(version);
          return body ? send(200, body) : notFound();
        }
        // Like the server: only versions some served snapshot made visible.
        if (role === 'snapshot' && !this.snapshots.has(version)) return notFound();
        const body = this.files.get(`${version}.${role}`);
        return body ? send(200, body) : notFound();
      }
      if ((m = /^\/targets\/(.+)$/.exec(url))) {
        const body = this.blobs.get(m[1]!.split('/').map(decodeURIComponent).join('/'));
        return body ? send(200, body) : notFound();
      }
      return notFound();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}

/** A chain double for unit tests: what a ReleaseLogWriter logs, as a ChainReader replays it. */
export function recordingChain(): { writer: ReleaseLogWriter; chain: AuditChain } {
  const logged: LoggedRelease[] = [];
  const writer = {
    logRelease(entry: ReleaseEntry) {
      const last = logged[logged.length - 1];
      if (last && entry.metadataVersion <= last.metadataVersion) {
        return Promise.reject(new Error('VersionNotIncreasing'));
      }
      const receipt = {
        txHash: '0x' + hex(Buffer.from(`tx${logged.length}`)),
        blockNumber: logged.length + 1,
        blockHash: '0x' + hex(Buffer.from(`block${logged.length}`)),
      };
      logged.push({
        ...receipt,
        metadataVersion: entry.metadataVersion,
        metadataHash: entry.metadataHash,
        publisher: '0x' + '11'.repeat(20),
        confirmations: 1,
        firmware: entry.firmware.map((f) => ({
          digest: f.digest,
          hardwareIdHash: hardwareIdHash(f.hardwareId).toLowerCase(),
          version: f.version,
        })),
      });
      return Promise.resolve(receipt);
    },
  } as unknown as ReleaseLogWriter;
  return { writer, chain: { releases: () => Promise.resolve(structuredClone(logged)) } };
}
