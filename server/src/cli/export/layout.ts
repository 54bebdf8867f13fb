/**
 * The static export's layout and the parsing it rests on: pure functions, no I/O. The export
 * mirrors the server's URL paths exactly (`/metadata/…`, `/targets/…` under one directory), so a
 * TUF client pointed at `{base}/metadata` and `{base}/targets` walks it as it walks the server.
 */
import { isValidTargetPath } from '../../http/names.js';
import { CliError } from '../error.js';

/** Same role-name bound as the server's `/metadata/{N}.{role}.json` route. */
const ROLE_NAME = /^[a-z][a-z0-9-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHA512_HEX = /^[0-9a-f]{128}$/;

/** What a timestamp pins: the snapshot version, and its hash and length when listed. */
export interface SnapshotPin {
  timestampVersion: number;
  snapshotVersion: number;
  sha256?: string;
  length?: number;
}

/** One target file as a targets role lists it. */
export interface ExportTarget {
  /** The target path in metadata: `name` or `<hardware ID>/name`. */
  path: string;
  length: number;
  sha256: string;
  sha512?: string;
}

function unexpected(message: string): CliError {
  return new CliError('UNEXPECTED_RESPONSE', message);
}

function parseSigned(bytes: Uint8Array, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new CliError('UNEXPECTED_RESPONSE', `the server's ${what} is not JSON`, { cause: error });
  }
  const signed = (json as { signed?: unknown } | null)?.signed;
  if (typeof signed !== 'object' || signed === null || Array.isArray(signed)) {
    throw unexpected(`the server's ${what} has no signed part`);
  }
  return signed as Record<string, unknown>;
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function metaEntries(signed: Record<string, unknown>, what: string): [string, unknown][] {
  const meta = signed['meta'];
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw unexpected(`the server's ${what} has no meta`);
  }
  return Object.entries(meta);
}

/** The snapshot a timestamp names (TUF 1.0: `meta["snapshot.json"]`). */
export function readSnapshotPin(timestampBytes: Uint8Array): SnapshotPin {
  const signed = parseSigned(timestampBytes, 'timestamp');
  if (signed['_type'] !== 'timestamp' || !isVersion(signed['version'])) {
    throw unexpected('the server answered something other than a timestamp');
  }
  const entry = metaEntries(signed, 'timestamp').find(([file]) => file === 'snapshot.json')?.[1] as
    { version?: unknown; length?: unknown; hashes?: { sha256?: unknown } } | undefined;
  if (!entry || !isVersion(entry.version)) throw unexpected('the timestamp names no snapshot');
  const pin: SnapshotPin = {
    timestampVersion: signed['version'],
    snapshotVersion: entry.version,
  };
  const sha256 = entry.hashes?.sha256;
  if (typeof sha256 === 'string') {
    if (!SHA256_HEX.test(sha256)) throw unexpected('the timestamp lists a malformed snapshot hash');
    pin.sha256 = sha256;
  }
  if (typeof entry.length === 'number') pin.length = entry.length;
  return pin;
}

/** `{role → version}` of every targets-role file a snapshot lists (`targets`, `bins-3f`, …). */
export function readSnapshotRoles(snapshotBytes: Uint8Array): Map<string, number> {
  const signed = parseSigned(snapshotBytes, 'snapshot');
  if (signed['_type'] !== 'snapshot') throw unexpected('the snapshot file is not a snapshot');
  const roles = new Map<string, number>();
  for (const [file, meta] of metaEntries(signed, 'snapshot')) {
    const role = file.endsWith('.json') ? file.slice(0, -'.json'.length) : '';
    const version = (meta as { version?: unknown } | null)?.version;
    if (!ROLE_NAME.test(role) || role === 'root' || role === 'timestamp' || role === 'snapshot') {
      throw unexpected(`the snapshot lists a role file the server could not serve: ${file}`);
    }
    if (!isVersion(version)) throw unexpected(`the snapshot lists ${file} without a version`);
    roles.set(role, version);
  }
  if (!roles.has('targets')) throw unexpected('the snapshot names no targets');
  return roles;
}

/** `signed.version` and `_type` of a metadata file, checked against what pointed to it. */
export function checkMetadataVersion(
  bytes: Uint8Array,
  type: 'root' | 'snapshot' | 'targets',
  version: number,
  what: string,
): void {
  const signed = parseSigned(bytes, what);
  if (signed['_type'] !== type || signed['version'] !== version) {
    throw new CliError(
      'METADATA_MISMATCH',
      `${what} is not ${type} version ${version} (it says ${String(signed['_type'])} version ${String(signed['version'])})`,
    );
  }
}

/** Every target a targets-role file lists, with the hashes its exported file names carry. */
export function readTargets(targetsBytes: Uint8Array, what: string): ExportTarget[] {
  const signed = parseSigned(targetsBytes, what);
  const targets = signed['targets'];
  if (typeof targets !== 'object' || targets === null || Array.isArray(targets)) {
    throw unexpected(`${what} has no targets map`);
  }
  const out: ExportTarget[] = [];
  for (const [path, raw] of Object.entries(targets)) {
    const file = raw as { length?: unknown; hashes?: { sha256?: unknown; sha512?: unknown } };
    const { length } = file;
    const sha256 = file.hashes?.sha256;
    const sha512 = file.hashes?.sha512;
    if (!isValidTargetPath(path)) {
      throw unexpected(`${what} lists a target path the export will not write: ${path}`);
    }
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
      throw unexpected(`${what} lists ${path} without a length`);
    }
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
      throw unexpected(`${what} lists ${path} without a sha256`);
    }
    if (sha512 !== undefined && (typeof sha512 !== 'string' || !SHA512_HEX.test(sha512))) {
      throw unexpected(`${what} lists ${path} with a malformed sha512`);
    }
    out.push({ path, length, sha256, ...(sha512 === undefined ? {} : { sha512 }) });
  }
  return out;
}

/** `metadata/{N}.{role}.json`, relative to the export directory (and the server's URL root). */
export function versionedMetadataPath(role: string, version: number): string {
  if (!ROLE_NAME.test(role) || role === 'timestamp' || !isVersion(version)) {
    throw new CliError('INVALID_ARGUMENT', `no versioned metadata file for ${role} v${version}`);
  }
  return `metadata/${version}.${role}.json`;
}

/**
 * The consistent-snapshot file names of a target, `targets/[{dir}/]{hash}.{name}`: one per hash it
 * lists (sha256 first), because a client prefixes the name with whichever hash metadata lists first.
 */
export function targetFilePaths(target: ExportTarget): string[] {
  if (!isValidTargetPath(target.path)) {
    throw new CliError('INVALID_ARGUMENT', `not a target path: ${target.path}`);
  }
  const slash = target.path.lastIndexOf('/');
  const dir = target.path.slice(0, slash + 1);
  const name = target.path.slice(slash + 1);
  const hashes = target.sha512 === undefined ? [target.sha256] : [target.sha256, target.sha512];
  return hashes.map((hash) => `targets/${dir}${hash}.${name}`);
}
