import { MetadataKind, type Metadata, type Root, type Targets } from '@tufjs/models';
import { CliError } from './error.js';
import { targetAt } from '../tuf/metadata.js';
import { HARDWARE_IDS_FIELD, SUPPLIER_ID_PATTERN, SUPPLIER_ROLE_PREFIX } from './supplier-names.js';
import {
  assertTrustedRoot,
  diffTargets,
  parseSigningFileMetadata,
  payloadSha256,
  verifiedSignatures,
  type TargetsSigningStatus,
} from './targets-signing.js';

/**
 * The file that moves between a supplier's key holders: the supplier role's next version, the version
 * it replaces (as served), and the chain of trust that names the supplier's keys: the root and the
 * top-level targets that delegates `supplier-<id>` (both as served, with their signatures). Holders
 * add signatures with `tufchain sign --role supplier`; `tufchain supplier publish` uploads it.
 */
export const SUPPLIER_SIGNING_FORMAT = 'tufchain/supplier-signing/v1';
type Wire = Record<string, unknown>;

export interface SupplierSigningFile {
  format: typeof SUPPLIER_SIGNING_FORMAT;
  /** Server the file was prepared against. */
  server: string;
  supplier: string;
  root: Wire;
  /** The top-level targets metadata that delegates the supplier role (as served). */
  delegator: Wire;
  /** The supplier role currently served; null before its first release. */
  previous: Wire | null;
  /** The supplier role's new version being signed. */
  targets: Wire;
}

export interface LoadedSupplierFile {
  file: SupplierSigningFile;
  role: string;
  root: Metadata<Root>;
  delegator: Metadata<Targets>;
  previous: Metadata<Targets> | null;
  targets: Metadata<Targets>;
}

export interface SupplierSigningStatus extends TargetsSigningStatus {
  supplier: string;
  role: string;
  /** The hardware IDs top-level targets delegates to the supplier. */
  hardwareIds: string[];
}

export function loadSupplierFile(json: unknown): LoadedSupplierFile {
  const file = json as Partial<SupplierSigningFile> | null;
  if (!file || typeof file !== 'object' || file.format !== SUPPLIER_SIGNING_FORMAT) {
    throw new CliError('MALFORMED_SIGNING_FILE', `not a ${SUPPLIER_SIGNING_FORMAT} file`);
  }
  if (typeof file.server !== 'string') {
    throw new CliError('MALFORMED_SIGNING_FILE', 'the signing file names no server');
  }
  if (typeof file.supplier !== 'string' || !SUPPLIER_ID_PATTERN.test(file.supplier)) {
    throw new CliError('MALFORMED_SIGNING_FILE', 'the signing file names no valid supplier id');
  }
  return {
    file: file as SupplierSigningFile,
    role: `${SUPPLIER_ROLE_PREFIX}${file.supplier}`,
    root: parseSigningFileMetadata<Root>(MetadataKind.Root, file.root, 'root'),
    delegator: parseSigningFileMetadata<Targets>(
      MetadataKind.Targets,
      file.delegator,
      'top-level targets',
    ),
    previous:
      file.previous === null || file.previous === undefined
        ? null
        : parseSigningFileMetadata<Targets>(
            MetadataKind.Targets,
            file.previous,
            'previous supplier role',
          ),
    targets: parseSigningFileMetadata<Targets>(MetadataKind.Targets, file.targets, 'supplier role'),
  };
}

/** The supplier's delegation in a top-level targets: its keys, threshold and hardware IDs. */
export function supplierDelegationOf(
  delegator: Metadata<Targets>,
  role: string,
): { keyIDs: string[]; threshold: number; hardwareIds: string[] } {
  const delegated = delegator.signed.delegations?.roles?.[role];
  if (!delegated) {
    throw new CliError(
      'SUPPLIER_NOT_FOUND',
      `top-level targets v${delegator.signed.version} delegates no ${role}`,
    );
  }
  const ids = delegated.unrecognizedFields?.[HARDWARE_IDS_FIELD];
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((h) => typeof h === 'string')) {
    throw new CliError(
      'DELEGATION_INVALID',
      `${role} lists no hardware IDs in ${HARDWARE_IDS_FIELD}`,
    );
  }
  return { keyIDs: [...delegated.keyIDs], threshold: delegated.threshold, hardwareIds: ids };
}

/**
 * Throws HARDWARE_ID_NOT_DELEGATED unless `path` is `<hardware ID>/<name>` for one of `hardwareIds`
 * and `claimed` (a firmware target's custom.hardwareIds) names only those.
 */
export function assertWithinHardwareIds(
  role: string,
  hardwareIds: readonly string[],
  path: string,
  claimed: readonly string[],
): void {
  const slash = path.indexOf('/');
  if (slash === -1 || !hardwareIds.includes(path.slice(0, slash))) {
    throw new CliError(
      'HARDWARE_ID_NOT_DELEGATED',
      `${path} is outside ${role}'s paths (${hardwareIds.map((h) => `${h}/*`).join(', ')})`,
    );
  }
  const outside = claimed.filter((h) => !hardwareIds.includes(h));
  if (outside.length > 0) {
    throw new CliError(
      'HARDWARE_ID_NOT_DELEGATED',
      `${role} may not sign firmware for ${outside.join(', ')} (${path})`,
    );
  }
}

/**
 * Checks the file as the server and a TUF client would, then counts signatures: the top-level
 * targets carries a threshold of the root's targets signatures and delegates the supplier role; the
 * root is the holder's trusted root (or its signed successor) when `trustedRoot` is given; the
 * previous supplier role carries a threshold of the supplier's signatures; the new version is higher,
 * only adds targets, all under the supplier's hardware IDs; every signature present is by one of the
 * supplier's keys and verifies.
 */
export function supplierSigningStatus(
  loaded: LoadedSupplierFile,
  trustedRoot?: Metadata<Root>,
): SupplierSigningStatus {
  const { root, delegator, previous, targets, role } = loaded;
  if (trustedRoot) assertTrustedRoot(root, trustedRoot);
  try {
    root.verifyDelegate('targets', delegator);
  } catch (error) {
    throw new CliError(
      'DELEGATION_INVALID',
      `the top-level targets v${delegator.signed.version} lacks a threshold of the root's targets signatures`,
      { cause: error },
    );
  }
  const delegation = supplierDelegationOf(delegator, role);
  if (previous !== null) {
    try {
      delegator.verifyDelegate(role, previous);
    } catch (error) {
      throw new CliError(
        'PREVIOUS_TARGETS_INVALID',
        `the previous ${role} v${previous.signed.version} lacks a threshold of the supplier's signatures`,
        { cause: error },
      );
    }
    if (targets.signed.version <= previous.signed.version) {
      throw new CliError(
        'MALFORMED_SIGNING_FILE',
        `${role} v${targets.signed.version} does not follow v${previous.signed.version}`,
      );
    }
  }
  if (targets.signed.delegations) {
    throw new CliError('DELEGATION_INVALID', 'supplier roles may not delegate further');
  }
  const { added, removed } = diffTargets(previous, targets);
  for (const a of added) {
    const custom = targetAt(targets.signed.targets, a.path)?.custom ?? {};
    const claimed =
      custom.kind === 'firmware' && Array.isArray(custom.hardwareIds)
        ? custom.hardwareIds.map(String)
        : [];
    assertWithinHardwareIds(role, delegation.hardwareIds, a.path, claimed);
  }
  const signed = verifiedSignatures(targets, {
    keyIDs: delegation.keyIDs,
    keys: delegator.signed.delegations?.keys ?? {},
    roleKeys: `a key of ${role}`,
  });
  return {
    supplier: loaded.file.supplier,
    role,
    hardwareIds: delegation.hardwareIds,
    version: targets.signed.version,
    previousVersion: previous?.signed.version ?? null,
    expires: targets.signed.expires,
    payloadSha256: payloadSha256(targets),
    added,
    removed,
    keyids: delegation.keyIDs,
    threshold: delegation.threshold,
    signed,
    missing: delegation.keyIDs.filter((k) => !signed.includes(k)),
    complete: signed.length >= delegation.threshold,
  };
}

export function supplierStatusText(st: SupplierSigningStatus, file: string): string {
  return [
    `${st.role} v${st.version}${st.previousVersion === null ? ' (its first release)' : ` (replaces v${st.previousVersion})`}, expires ${st.expires}; hardware IDs ${st.hardwareIds.join(', ')}`,
    ...st.added.map(
      (a) => `  + ${a.path} (${a.length} bytes, sha256 ${a.sha256 ?? '?'}, ${a.kind ?? 'no kind'})`,
    ),
    ...st.removed.map((p) => `  - ${p}`),
    `payload sha256 (compare out of band before signing): ${st.payloadSha256}`,
    `  ${st.signed.length} of ${st.threshold} required signatures${st.complete ? ' (met)' : ''}`,
    ...st.missing.map((k) => `    not yet signed: ${k}`),
    st.complete
      ? `complete: upload with \`tufchain supplier publish ${st.supplier} ${file}\``
      : `incomplete: more holders must run \`tufchain sign --role supplier ${file} --key KEYFILE\``,
  ].join('\n');
}
