import { Metadata, MetaFile, Snapshot, Targets, type TargetFile } from '@tufjs/models';
import { ServerError } from '../error.js';
import { isSupplierHardwareId, SUPPLIER_ID_PATTERN } from '../http/names.js';
import { SPEC_VERSION, type PublicKeyHolder } from './metadata.js';
import { tufKeyOf } from './signer.js';
import { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX } from '@tufchain/transparency';

/**
 * Repository layout v2 (server/README.md, "Layout"):
 *
 *   targets (targets keys)  --roles-->  supplier-<id> (supplier keys, scoped to its hardware IDs)
 *                                       bins (online bins key)  --TAP 15-->  bins-00 .. bins-ff
 *
 * Every delegation is terminating, and supplier roles come first, so a path under a supplier's
 * hardware ID can only ever resolve through that supplier's role.
 */
export const BINS_ROLE = 'bins';
export { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX };

export function supplierRoleName(id: string): string {
  if (!SUPPLIER_ID_PATTERN.test(id)) {
    throw new ServerError(
      'INVALID_NAME',
      'a supplier id is 1-40 characters of a-z, 0-9 and -, starting with a letter or digit',
    );
  }
  return `${SUPPLIER_ROLE_PREFIX}${id}`;
}

export interface SupplierDelegation {
  role: string;
  hardwareIds: string[];
  keyIds: string[];
  threshold: number;
}

/** The supplier roles a top-level targets delegates to, validated. */
export function supplierDelegations(targets: Targets): SupplierDelegation[] {
  const roles = targets.delegations?.roles ?? {};
  const out: SupplierDelegation[] = [];
  for (const role of Object.values(roles)) {
    if (!role.name.startsWith(SUPPLIER_ROLE_PREFIX)) continue;
    const ids = role.unrecognizedFields?.[HARDWARE_IDS_FIELD];
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      !ids.every((h): h is string => typeof h === 'string' && isSupplierHardwareId(h))
    ) {
      throw new ServerError(
        'DELEGATION_INVALID',
        `supplier role ${role.name} does not list its hardware IDs in ${HARDWARE_IDS_FIELD}`,
      );
    }
    const expected = ids.map((h) => `${h}/*`).sort();
    const paths = [...(role.paths ?? [])].sort();
    if (
      role.pathHashPrefixes ||
      paths.length !== expected.length ||
      paths.some((p, i) => p !== expected[i]) ||
      !role.terminating
    ) {
      throw new ServerError(
        'DELEGATION_INVALID',
        `supplier role ${role.name} must be terminating with paths exactly "<hardware ID>/*" for its hardware IDs`,
      );
    }
    out.push({
      role: role.name,
      hardwareIds: ids,
      keyIds: role.keyIDs,
      threshold: role.threshold,
    });
  }
  const owners = new Map<string, string>();
  for (const s of out) {
    for (const h of s.hardwareIds) {
      const other = owners.get(h);
      if (other && other !== s.role) {
        throw new ServerError(
          'DELEGATION_INVALID',
          `hardware ID ${h} is delegated to both ${other} and ${s.role}`,
        );
      }
      owners.set(h, s.role);
    }
  }
  return out;
}

/** True when top-level targets delegates to the online hashed bins. */
export function usesBins(targets: Targets): boolean {
  return targets.delegations?.roles?.[BINS_ROLE] !== undefined;
}

export interface SupplierInput {
  id: string;
  hardwareIds: string[];
  keys: readonly PublicKeyHolder[];
  threshold: number;
}

/** JSON of TUF delegations (@tufjs/models exports no Delegations constructor). */
export type DelegationsJson = Record<string, unknown>;
type KeyJson = ReturnType<ReturnType<typeof tufKeyOf>['toJSON']>;

/** The delegations of a v2 top-level targets: suppliers first, then the bins. */
export function buildTopDelegations(opts: {
  binsKeys: readonly PublicKeyHolder[];
  suppliers: readonly SupplierInput[];
}): DelegationsJson {
  const keys: Record<string, KeyJson> = {};
  const roles: Record<string, unknown>[] = [];
  for (const s of opts.suppliers) {
    for (const k of s.keys) keys[k.keyId] = tufKeyOf(k).toJSON();
    roles.push({
      name: supplierRoleName(s.id),
      keyids: [...new Set(s.keys.map((k) => k.keyId))],
      threshold: s.threshold,
      terminating: true,
      paths: s.hardwareIds.map((h) => `${h}/*`),
      [HARDWARE_IDS_FIELD]: [...s.hardwareIds],
    });
  }
  for (const k of opts.binsKeys) keys[k.keyId] = tufKeyOf(k).toJSON();
  roles.push({
    name: BINS_ROLE,
    keyids: opts.binsKeys.map((k) => k.keyId),
    threshold: 1,
    terminating: true,
    // TUF path patterns match one segment per `*`: plain names and `<hardware ID>/<name>`.
    paths: ['*', '*/*'],
  });
  return { keys, roles };
}

/** Adds a supplier role before `bins`, keeping every existing delegation as it is. */
export function withSupplier(top: Targets, supplier: SupplierInput): DelegationsJson {
  const current = top.delegations?.toJSON() as
    { keys: Record<string, KeyJson>; roles?: Record<string, unknown>[] } | undefined;
  if (!current?.roles) {
    throw new ServerError('DELEGATION_INVALID', 'targets has no role delegations to extend');
  }
  const name = supplierRoleName(supplier.id);
  if (current.roles.some((r) => r.name === name)) {
    throw new ServerError('SUPPLIER_EXISTS', `supplier ${supplier.id} is already delegated`);
  }
  const keys = { ...current.keys };
  for (const k of supplier.keys) keys[k.keyId] = tufKeyOf(k).toJSON();
  const role = {
    name,
    keyids: [...new Set(supplier.keys.map((k) => k.keyId))],
    threshold: supplier.threshold,
    terminating: true,
    paths: supplier.hardwareIds.map((h) => `${h}/*`),
    [HARDWARE_IDS_FIELD]: [...supplier.hardwareIds],
  };
  const bins = current.roles.findIndex((r) => r.name === BINS_ROLE);
  const roles = [...current.roles];
  roles.splice(bins === -1 ? roles.length : bins, 0, role);
  return { keys, roles };
}

/** `bins.json`: no targets, a TAP 15 succinct delegation to 2^bitLength bins. */
export function buildBinsDelegator(opts: {
  version: number;
  expires: string;
  binsKeys: readonly PublicKeyHolder[];
  bitLength: number;
}): Metadata<Targets> {
  const keys: Record<string, KeyJson> = {};
  for (const k of opts.binsKeys) keys[k.keyId] = tufKeyOf(k).toJSON();
  return buildTargets({
    version: opts.version,
    expires: opts.expires,
    targets: {},
    delegations: {
      keys,
      succinct_roles: {
        keyids: opts.binsKeys.map((k) => k.keyId),
        threshold: 1,
        bit_length: opts.bitLength,
        name_prefix: BINS_ROLE,
      },
    },
  });
}

export function buildTargets(opts: {
  version: number;
  expires: string;
  targets: Record<string, TargetFile>;
  delegations?: DelegationsJson | undefined;
}): Metadata<Targets> {
  // The constructor takes the TargetFile map as is (Targets.fromJSON would rebuild it in
  // quadratic time); only the small delegations go through fromJSON.
  const delegations = opts.delegations
    ? Targets.fromJSON({
        _type: 'targets',
        spec_version: SPEC_VERSION,
        version: opts.version,
        expires: opts.expires,
        targets: {},
        delegations: opts.delegations,
      } as Parameters<typeof Targets.fromJSON>[0]).delegations
    : undefined;
  return new Metadata(
    new Targets({
      version: opts.version,
      specVersion: SPEC_VERSION,
      expires: opts.expires,
      targets: { ...opts.targets },
      ...(delegations ? { delegations } : {}),
    }),
  );
}

/** The JSON form of a targets' delegations, to carry them into a new version unchanged. */
export function delegationsJsonOf(targets: Targets): DelegationsJson | undefined {
  return targets.delegations?.toJSON();
}

/**
 * Snapshot meta lists every targets-role file by version only (TUF 5.6 allows omitting hashes):
 * with 2^7 bins it stays near 4 KB, which is what a returning vehicle downloads.
 */
export function buildSnapshot(
  version: number,
  expires: string,
  roleVersions: ReadonlyMap<string, number>,
): Metadata<Snapshot> {
  const meta: Record<string, MetaFile> = {};
  for (const role of [...roleVersions.keys()].sort()) {
    meta[`${role}.json`] = new MetaFile({ version: roleVersions.get(role)! });
  }
  return new Metadata(new Snapshot({ version, specVersion: SPEC_VERSION, expires, meta }));
}

/** Role versions named by a snapshot (`bins-3f.json` -> `bins-3f`). */
export function roleVersionsOf(snapshot: Snapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const [file, meta] of Object.entries(snapshot.meta)) {
    out.set(file.replace(/\.json$/, ''), meta.version);
  }
  return out;
}

/** Whether `path` matches a supplier delegation's `<hardware ID>/*` patterns. */
export function supplierFor(
  path: string,
  suppliers: readonly SupplierDelegation[],
): SupplierDelegation | undefined {
  const slash = path.indexOf('/');
  if (slash <= 0) return undefined;
  const prefix = path.slice(0, slash);
  if (path.indexOf('/', slash + 1) !== -1) return undefined;
  return suppliers.find((s) => s.hardwareIds.includes(prefix));
}
