import {
  Metadata,
  MetadataKind,
  MetaFile,
  Root,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { resolveConfig, systemClock, type Clock, type ExpiryConfig } from '../config.js';
import { ServerError } from '../error.js';
import type { NewMetadataRecord, RepositoryStore, RoleName } from '../storage/store.js';
import { expiryAfter } from './expiry.js';
import type { ReleaseLog } from './release-log.js';
import {
  serializeMetadata,
  sha256Hex,
  signMetadata,
  tufKeyOf,
  type AnyMetadata,
  type TufSigner,
} from './signer.js';

export const SPEC_VERSION = '1.0.31';

export interface OnlineSigners {
  /** Absent when targets is signed offline and uploaded. */
  targets?: TufSigner | readonly TufSigner[];
  snapshot: TufSigner | readonly TufSigner[];
  timestamp: TufSigner | readonly TufSigner[];
}

export interface InitRepositoryOptions {
  store: RepositoryStore;
  /** Offline root keys; used once here, never kept. */
  rootSigners: readonly TufSigner[];
  /** Root threshold (default: all root signers). */
  threshold?: number;
  /** Signers for the initial targets, snapshot and timestamp; their keys are authorized in root. */
  onlineSigners: Required<OnlineSigners>;
  thresholds?: { targets?: number; snapshot?: number; timestamp?: number };
  expiries?: Partial<ExpiryConfig>;
  clock?: Clock;
  /** When given, targets v1 is logged on chain before anything becomes visible. */
  releaseLog?: ReleaseLog;
}

export interface InitRepositoryResult {
  /** Exact bytes of 1.root.json: the trust anchor to provision into vehicles. */
  rootBytes: Uint8Array;
  rootJson: unknown;
  targetsVersion: number;
}

export function toArray<T>(x: T | readonly T[] | undefined): readonly T[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
}

/** Bootstraps root v1 and empty targets/snapshot/timestamp v1; visible in one commit. */
export async function initRepository(opts: InitRepositoryOptions): Promise<InitRepositoryResult> {
  const clock = opts.clock ?? systemClock;
  const now = clock();
  const expiries = resolveConfig({ expiries: opts.expiries ?? {} }).expiries;
  if ((await opts.store.maxVersion('root')) > 0) {
    throw new ServerError('REPOSITORY_ALREADY_INITIALIZED', 'the repository already has a root');
  }
  const rootSigners = opts.rootSigners;
  if (rootSigners.length === 0)
    throw new ServerError('INVALID_REQUEST', 'at least one root signer is required');
  const roleSigners = {
    root: rootSigners,
    targets: toArray(opts.onlineSigners.targets),
    snapshot: toArray(opts.onlineSigners.snapshot),
    timestamp: toArray(opts.onlineSigners.timestamp),
  };
  const thresholds = {
    root: opts.threshold ?? rootSigners.length,
    targets: opts.thresholds?.targets ?? 1,
    snapshot: opts.thresholds?.snapshot ?? 1,
    timestamp: opts.thresholds?.timestamp ?? 1,
  };
  for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
    if (thresholds[role] < 1 || roleSigners[role].length < thresholds[role]) {
      throw new ServerError(
        'INVALID_REQUEST',
        `${role} needs at least ${thresholds[role]} signers`,
      );
    }
  }
  const root = buildRoot({
    version: 1,
    expires: expiryAfter(now, expiries.root),
    roles: {
      root: { keys: roleSigners.root, threshold: thresholds.root },
      targets: { keys: roleSigners.targets, threshold: thresholds.targets },
      snapshot: { keys: roleSigners.snapshot, threshold: thresholds.snapshot },
      timestamp: { keys: roleSigners.timestamp, threshold: thresholds.timestamp },
    },
  });
  const rootMd = new Metadata(root);
  await signMetadata(rootMd, rootSigners);

  const targetsMd = new Metadata(
    new Targets({
      version: 1,
      specVersion: SPEC_VERSION,
      expires: expiryAfter(now, expiries.targets),
      targets: {},
    }),
  );
  await signMetadata(targetsMd, roleSigners.targets);
  const targetsBytes = serializeMetadata(targetsMd);
  const snapshotMd = buildSnapshot(1, expiryAfter(now, expiries.snapshot), 1, targetsBytes);
  await signMetadata(snapshotMd, roleSigners.snapshot);
  const snapshotBytes = serializeMetadata(snapshotMd);
  const timestampMd = buildTimestamp(1, expiryAfter(now, expiries.timestamp), 1, snapshotBytes);
  await signMetadata(timestampMd, roleSigners.timestamp);

  const records = [
    recordOf('root', rootMd),
    { ...recordOf('targets', targetsMd), bytes: targetsBytes, sha256: sha256Hex(targetsBytes) },
    { ...recordOf('snapshot', snapshotMd), bytes: snapshotBytes, sha256: sha256Hex(snapshotBytes) },
    recordOf('timestamp', timestampMd),
  ];
  await opts.store.stageMetadata(records);
  const keys = records.map((r) => ({ role: r.role, version: r.version }));
  if (opts.releaseLog) {
    try {
      await opts.releaseLog.logRelease({
        metadataVersion: 1,
        metadataHash: `0x${sha256Hex(targetsBytes)}`,
        firmware: [],
      });
    } catch (error) {
      await opts.store.abandonMetadata(keys);
      throw new ServerError('CHAIN_LOG_FAILED', 'logging targets v1 on chain failed', {
        cause: error,
      });
    }
  }
  await opts.store.commitMetadata(keys);
  const rootBytes = records[0]!.bytes;
  return {
    rootBytes,
    rootJson: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
    targetsVersion: 1,
  };
}

export type PublicKeyHolder = Pick<TufSigner, 'keyId' | 'publicKey'>;

/** Builds a root (signed part) from per-role public keys and thresholds; also for offline ceremonies. */
export function buildRoot(opts: {
  version: number;
  expires: string;
  roles: Record<RoleName, { keys: readonly PublicKeyHolder[]; threshold: number }>;
}): Root {
  const keys: Record<string, unknown> = {};
  const roles: Record<string, unknown> = {};
  for (const [role, def] of Object.entries(opts.roles)) {
    for (const k of def.keys) keys[k.keyId] = tufKeyOf(k).toJSON();
    roles[role] = { keyids: [...new Set(def.keys.map((k) => k.keyId))], threshold: def.threshold };
  }
  return Root.fromJSON({
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: opts.version,
    expires: opts.expires,
    consistent_snapshot: true,
    keys,
    roles,
  } as Parameters<typeof Root.fromJSON>[0]);
}

export function recordOf(role: RoleName, md: AnyMetadata): NewMetadataRecord {
  const bytes = serializeMetadata(md);
  return {
    role,
    version: md.signed.version,
    bytes,
    sha256: sha256Hex(bytes),
    expires: md.signed.expires,
  };
}

export function buildSnapshot(
  version: number,
  expires: string,
  targetsVersion: number,
  targetsBytes: Uint8Array,
): Metadata<Snapshot> {
  return new Metadata(
    new Snapshot({
      version,
      specVersion: SPEC_VERSION,
      expires,
      meta: {
        'targets.json': new MetaFile({
          version: targetsVersion,
          length: targetsBytes.byteLength,
          hashes: { sha256: sha256Hex(targetsBytes) },
        }),
      },
    }),
  );
}

export function buildTimestamp(
  version: number,
  expires: string,
  snapshotVersion: number,
  snapshotBytes: Uint8Array,
): Metadata<Timestamp> {
  return new Metadata(
    new Timestamp({
      version,
      specVersion: SPEC_VERSION,
      expires,
      snapshotMeta: new MetaFile({
        version: snapshotVersion,
        length: snapshotBytes.byteLength,
        hashes: { sha256: sha256Hex(snapshotBytes) },
      }),
    }),
  );
}

export function parseMetadata(role: 'root', bytes: Uint8Array): Metadata<Root>;
export function parseMetadata(role: 'targets', bytes: Uint8Array): Metadata<Targets>;
export function parseMetadata(role: 'snapshot', bytes: Uint8Array): Metadata<Snapshot>;
export function parseMetadata(role: 'timestamp', bytes: Uint8Array): Metadata<Timestamp>;
export function parseMetadata(role: RoleName, bytes: Uint8Array): AnyMetadata {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ServerError('METADATA_MALFORMED', `${role} metadata is not JSON`, { cause: error });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ServerError('METADATA_MALFORMED', `${role} metadata is not an object`);
  }
  const signed = (json as { signed?: { _type?: unknown } }).signed;
  if (signed?._type !== role)
    throw new ServerError('METADATA_MALFORMED', `metadata is not of type ${role}`);
  const kinds = {
    root: MetadataKind.Root,
    targets: MetadataKind.Targets,
    snapshot: MetadataKind.Snapshot,
    timestamp: MetadataKind.Timestamp,
  } as const;
  try {
    // The overloads are per kind; the union call is safe because `role` picks the kind.
    return Metadata.fromJSON(
      kinds[role] as MetadataKind.Root,
      json as Parameters<typeof Metadata.fromJSON>[1],
    );
  } catch (error) {
    throw new ServerError(
      'METADATA_MALFORMED',
      `${role} metadata does not parse: ${String(error)}`,
      { cause: error },
    );
  }
}

export { TargetFile };
