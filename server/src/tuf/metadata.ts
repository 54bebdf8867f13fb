import type { Snapshot, TargetFile, Targets } from '@tufjs/models';
import { Metadata, MetadataKind, MetaFile, Root, Timestamp } from '@tufjs/models';
import { parseTargetsMetadata } from '@tufchain/transparency';
import { ServerError } from '../error.js';
import type { MetadataRole, NewMetadataRecord, RoleName } from '../storage/store.js';
import {
  serializeMetadata,
  sha256Hex,
  tufKeyOf,
  type AnyMetadata,
  type TufSigner,
} from './signer.js';

/**
 * TUF metadata as the server builds, signs, stores and reads it: the spec version, the online
 * signers, root and timestamp builders, the exact stored record of a metadata object, and the
 * parser of stored or uploaded bytes. Layout (targets, bins, suppliers) is in layout.ts.
 */
export const SPEC_VERSION = '1.0.31';

export interface OnlineSigners {
  /** Absent when targets is signed offline and uploaded. */
  targets?: TufSigner | readonly TufSigner[];
  snapshot: TufSigner | readonly TufSigner[];
  timestamp: TufSigner | readonly TufSigner[];
  /** Signs `bins` and the hashed bins; defaults to the snapshot key, as in RSTUF. */
  bins?: TufSigner | readonly TufSigner[];
}

export function binsSignersOf(signers: OnlineSigners): readonly TufSigner[] {
  return toArray(signers.bins ?? signers.snapshot);
}

export function toArray<T>(x: T | readonly T[] | undefined): readonly T[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
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

export function recordOf(role: MetadataRole, md: AnyMetadata): NewMetadataRecord {
  const bytes = serializeMetadata(md);
  return {
    role,
    version: md.signed.version,
    bytes,
    sha256: sha256Hex(bytes),
    expires: md.signed.expires,
  };
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

/**
 * The entry for `path` in a targets map, if it lists one. Never `map[path]`: a valid target name
 * such as `constructor` or `toString` would find Object.prototype's member instead.
 */
export function targetAt(
  targets: Readonly<Record<string, TargetFile>>,
  path: string,
): TargetFile | undefined {
  return Object.hasOwn(targets, path) ? targets[path] : undefined;
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
  if (role === 'targets') {
    try {
      return parseTargetsMetadata(json).md;
    } catch (error) {
      throw new ServerError('METADATA_MALFORMED', (error as Error).message, { cause: error });
    }
  }
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
