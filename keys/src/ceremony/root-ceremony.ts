import { createHash } from 'node:crypto';
import { Metadata, MetadataKind, type Root } from '@tufjs/models';
import { KeysError } from '../error.js';
import type { Signer } from '../signer.js';
import { canonicalSignedBytes, signMetadata } from '../tuf/sign-metadata.js';
import { computeKeyId, type TufPublicKey } from '../tuf-key.js';

export const ROOT_CEREMONY_FORMAT = 'tufchain/root-ceremony/v1';
const SPEC_VERSION = '1.0.31';
const TOP_LEVEL_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
type TopLevelRole = (typeof TOP_LEVEL_ROLES)[number];

export interface RoleKeys {
  keys: TufPublicKey[];
  threshold: number;
}

export type RootRoles = Record<TopLevelRole, RoleKeys>;

export interface InitRootOptions extends RootRoles {
  expires: Date;
  /** Default 1. */
  version?: number;
  /** Default true. */
  consistentSnapshot?: boolean;
}

export interface RotateRootOptions extends Partial<RootRoles> {
  expires: Date;
  consistentSnapshot?: boolean;
}

export interface CeremonyRequirement {
  /** `new-root`: the root role of the metadata being signed; `previous-root`: the root it replaces. */
  label: 'new-root' | 'previous-root';
  keyids: string[];
  threshold: number;
}

/**
 * The file that moves between root key holders. `root` is TUF root metadata in its wire form; each
 * holder adds one signature. `previousRoot` (rotation only) is the trusted root being replaced.
 */
export interface RootCeremony {
  format: typeof ROOT_CEREMONY_FORMAT;
  root: { signed: Record<string, unknown>; signatures: { keyid: string; sig: string }[] };
  previousRoot?: { signed: Record<string, unknown>; signatures: { keyid: string; sig: string }[] };
  requirements: CeremonyRequirement[];
}

export interface CeremonyStatus {
  version: number;
  expires: string;
  /** sha256 of the canonical signed bytes: holders compare it out of band before signing. */
  payloadSha256: string;
  requirements: (CeremonyRequirement & { signed: string[]; missing: string[]; met: boolean })[];
  complete: boolean;
}

function tufDate(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new KeysError('INVALID_ARGUMENT', 'expires must be a valid Date');
  }
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function roleJson(
  name: string,
  spec: RoleKeys,
  keys: Record<string, TufPublicKey>,
): { keyids: string[]; threshold: number } {
  const keyids = spec.keys.map((key) => {
    const keyid = computeKeyId(key);
    keys[keyid] = {
      keytype: key.keytype,
      scheme: key.scheme,
      keyval: { public: key.keyval.public },
    };
    return keyid;
  });
  if (new Set(keyids).size !== keyids.length) {
    throw new KeysError('INVALID_ARGUMENT', `the ${name} role lists a key twice`);
  }
  if (!Number.isInteger(spec.threshold) || spec.threshold < 1 || spec.threshold > keyids.length) {
    throw new KeysError(
      'INVALID_ARGUMENT',
      `the ${name} threshold must be between 1 and ${keyids.length}`,
    );
  }
  return { keyids, threshold: spec.threshold };
}

function buildRootSigned(
  roles: RootRoles,
  version: number,
  expires: Date,
  consistentSnapshot: boolean,
): Record<string, unknown> {
  if (!Number.isSafeInteger(version) || version < 1)
    throw new KeysError('INVALID_ARGUMENT', 'version must be >= 1');
  if (expires.getTime() <= Date.now())
    throw new KeysError('INVALID_ARGUMENT', 'expires must be in the future');
  const keys: Record<string, TufPublicKey> = {};
  const roleMap: Record<string, { keyids: string[]; threshold: number }> = {};
  for (const name of TOP_LEVEL_ROLES) roleMap[name] = roleJson(name, roles[name], keys);
  return {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version,
    expires: tufDate(expires),
    keys,
    roles: roleMap,
    consistent_snapshot: consistentSnapshot,
  };
}

function parseRoot(json: unknown, what: string): Metadata<Root> {
  try {
    return Metadata.fromJSON(MetadataKind.Root, json as Parameters<typeof Metadata.fromJSON>[1]);
  } catch (error) {
    throw new KeysError('MALFORMED_CEREMONY', `${what} is not TUF root metadata`, { cause: error });
  }
}

function toWire(metadata: Metadata<Root>): RootCeremony['root'] {
  return JSON.parse(JSON.stringify(metadata.toJSON())) as RootCeremony['root'];
}

function rootRequirement(
  root: Metadata<Root>,
  label: CeremonyRequirement['label'],
): CeremonyRequirement {
  const role = root.signed.roles.root;
  if (!role) throw new KeysError('MALFORMED_CEREMONY', 'root metadata without a root role');
  return { label, keyids: [...role.keyIDs], threshold: role.threshold };
}

/** Starts a ceremony for a first root (version 1 by default) signed by k of the n root holders. */
export function initRootCeremony(options: InitRootOptions): RootCeremony {
  const signed = buildRootSigned(
    options,
    options.version ?? 1,
    options.expires,
    options.consistentSnapshot ?? true,
  );
  const root = parseRoot({ signed, signatures: [] }, 'the new root');
  return {
    format: ROOT_CEREMONY_FORMAT,
    root: toWire(root),
    requirements: [rootRequirement(root, 'new-root')],
  };
}

function rolesOf(root: Metadata<Root>): RootRoles {
  const roles = {} as RootRoles;
  for (const name of TOP_LEVEL_ROLES) {
    const role = root.signed.roles[name];
    if (!role) throw new KeysError('MALFORMED_CEREMONY', `the previous root has no ${name} role`);
    const keys = role.keyIDs.map((keyid) => {
      const key = root.signed.keys[keyid];
      if (!key) throw new KeysError('MALFORMED_CEREMONY', `the previous root lacks key ${keyid}`);
      return key.toJSON() as unknown as TufPublicKey;
    });
    roles[name] = { keys, threshold: role.threshold };
  }
  return roles;
}

/**
 * Starts a rotation: root version N+1, signed by a threshold of the previous root keys AND a threshold
 * of the new root keys, as TUF clients require. Roles not given keep their keys and thresholds.
 */
export function rotateRootCeremony(
  previousRootJson: unknown,
  options: RotateRootOptions,
): RootCeremony {
  const previous = parseRoot(previousRootJson, 'the previous root');
  verifyThresholds(previous, [rootRequirement(previous, 'new-root')], undefined);
  const roles = { ...rolesOf(previous) };
  for (const name of TOP_LEVEL_ROLES) {
    const given = options[name];
    if (given) roles[name] = given;
  }
  const signed = buildRootSigned(
    roles,
    previous.signed.version + 1,
    options.expires,
    options.consistentSnapshot ?? previous.signed.consistentSnapshot,
  );
  const root = parseRoot({ signed, signatures: [] }, 'the new root');
  return {
    format: ROOT_CEREMONY_FORMAT,
    root: toWire(root),
    previousRoot: toWire(previous),
    requirements: [rootRequirement(root, 'new-root'), rootRequirement(previous, 'previous-root')],
  };
}

interface LoadedCeremony {
  root: Metadata<Root>;
  previous: Metadata<Root> | undefined;
  requirements: CeremonyRequirement[];
}

function loadCeremony(input: unknown): LoadedCeremony {
  const ceremony = input as Partial<RootCeremony> | null;
  if (!ceremony || typeof ceremony !== 'object' || ceremony.format !== ROOT_CEREMONY_FORMAT) {
    throw new KeysError('MALFORMED_CEREMONY', `not a ${ROOT_CEREMONY_FORMAT} file`);
  }
  const root = parseRoot(ceremony.root, 'the ceremony root');
  const previous =
    ceremony.previousRoot === undefined
      ? undefined
      : parseRoot(ceremony.previousRoot, 'the previous root');
  if (previous && root.signed.version !== previous.signed.version + 1) {
    throw new KeysError('MALFORMED_CEREMONY', 'a rotated root must have the next version');
  }
  // Requirements are derived from the metadata, never trusted from the file.
  const requirements = [rootRequirement(root, 'new-root')];
  if (previous) requirements.push(rootRequirement(previous, 'previous-root'));
  return { root, previous, requirements };
}

function keyFor(keyid: string, root: Metadata<Root>, previous: Metadata<Root> | undefined) {
  return root.signed.keys[keyid] ?? previous?.signed.keys[keyid];
}

function checkSignatures({ root, previous, requirements }: LoadedCeremony): Set<string> {
  const allowed = new Set(requirements.flatMap((r) => r.keyids));
  const valid = new Set<string>();
  for (const keyid of Object.keys(root.signatures)) {
    const key = keyFor(keyid, root, previous);
    if (!allowed.has(keyid) || !key) {
      throw new KeysError(
        'CEREMONY_INVALID_SIGNATURE',
        `signature by ${keyid}, which is not a root key`,
      );
    }
    try {
      key.verifySignature(root);
    } catch (error) {
      throw new KeysError(
        'CEREMONY_INVALID_SIGNATURE',
        `the signature by ${keyid} does not verify`,
        { cause: error },
      );
    }
    valid.add(keyid);
  }
  return valid;
}

function verifyThresholds(
  root: Metadata<Root>,
  requirements: CeremonyRequirement[],
  previous: Metadata<Root> | undefined,
): void {
  // The checks tuf-js performs when a client loads this root: its own root role, then the trusted previous root.
  try {
    root.verifyDelegate('root', root);
    if (previous) previous.verifyDelegate('root', root);
  } catch (error) {
    const detail = requirements.map((r) => `${r.label} ${r.threshold}`).join(', ');
    throw new KeysError('THRESHOLD_NOT_MET', `root is not signed by enough keys (${detail})`, {
      cause: error,
    });
  }
}

/** What the file asks to be signed and who has signed; verifies every signature present. */
export function describeRootCeremony(input: unknown): CeremonyStatus {
  const loaded = loadCeremony(input);
  const valid = checkSignatures(loaded);
  const requirements = loaded.requirements.map((r) => {
    const signed = r.keyids.filter((k) => valid.has(k));
    return {
      ...r,
      signed,
      missing: r.keyids.filter((k) => !valid.has(k)),
      met: signed.length >= r.threshold,
    };
  });
  return {
    version: loaded.root.signed.version,
    expires: loaded.root.signed.expires,
    payloadSha256: createHash('sha256').update(canonicalSignedBytes(loaded.root)).digest('hex'),
    requirements,
    complete: requirements.every((r) => r.met),
  };
}

/**
 * One holder's turn: checks the signatures already present, then adds this holder's signature over the
 * canonical `signed` part. Codes: MALFORMED_CEREMONY, CEREMONY_INVALID_SIGNATURE, NOT_A_ROOT_HOLDER, ALREADY_SIGNED.
 */
export async function signRootCeremony(input: unknown, signer: Signer): Promise<RootCeremony> {
  const loaded = loadCeremony(input);
  checkSignatures(loaded);
  if (!loaded.requirements.some((r) => r.keyids.includes(signer.keyId))) {
    throw new KeysError(
      'NOT_A_ROOT_HOLDER',
      `key ${signer.keyId} is not a root key of this ceremony`,
    );
  }
  if (loaded.root.signatures[signer.keyId]) {
    throw new KeysError('ALREADY_SIGNED', `key ${signer.keyId} has already signed`);
  }
  await signMetadata(loaded.root, signer);
  checkSignatures(loaded);
  const ceremony: RootCeremony = {
    format: ROOT_CEREMONY_FORMAT,
    root: toWire(loaded.root),
    requirements: loaded.requirements,
  };
  if (loaded.previous) ceremony.previousRoot = toWire(loaded.previous);
  return ceremony;
}

/**
 * Ends the ceremony: returns the root metadata (the `{version}.root.json` document) once every
 * threshold is met, verified with @tufjs/models exactly as a TUF client would. Throws THRESHOLD_NOT_MET.
 */
export function finalizeRootCeremony(input: unknown): RootCeremony['root'] {
  const loaded = loadCeremony(input);
  checkSignatures(loaded);
  verifyThresholds(loaded.root, loaded.requirements, loaded.previous);
  return toWire(loaded.root);
}
