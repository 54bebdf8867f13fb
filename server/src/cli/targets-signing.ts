import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetadataKind, type Root, type Targets } from '@tufjs/models';
import { CliError } from './error.js';

/**
 * The file that moves between offline targets key holders: the new targets metadata (wire form) and
 * the root that says which keys may sign it. Holders add signatures with `tufchain sign --role targets`.
 */
export const TARGETS_SIGNING_FORMAT = 'tufchain/targets-signing/v1';

export interface TargetsSigningFile {
  format: typeof TARGETS_SIGNING_FORMAT;
  /** Server the file was prepared against. */
  server: string;
  /** Target names this targets version adds (firmware and their attestation bundles). */
  added: string[];
  root: Record<string, unknown>;
  targets: Record<string, unknown>;
}

export interface LoadedSigningFile {
  file: TargetsSigningFile;
  root: Metadata<Root>;
  targets: Metadata<Targets>;
}

export interface TargetsSigningStatus {
  version: number;
  expires: string;
  /** sha256 of the canonical signed bytes: holders compare it out of band before signing. */
  payloadSha256: string;
  /** Target paths this version adds. */
  added: string[];
  keyids: string[];
  threshold: number;
  signed: string[];
  missing: string[];
  complete: boolean;
}

export function loadSigningFile(json: unknown): LoadedSigningFile {
  const file = json as Partial<TargetsSigningFile> | null;
  if (!file || typeof file !== 'object' || file.format !== TARGETS_SIGNING_FORMAT) {
    throw new CliError('MALFORMED_SIGNING_FILE', `not a ${TARGETS_SIGNING_FORMAT} file`);
  }
  if (
    !Array.isArray(file.added) ||
    !file.added.every((a) => typeof a === 'string') ||
    typeof file.server !== 'string'
  ) {
    throw new CliError(
      'MALFORMED_SIGNING_FILE',
      'the signing file lacks its server or added targets',
    );
  }
  try {
    const root = Metadata.fromJSON(MetadataKind.Root, file.root as never);
    const targets = Metadata.fromJSON(MetadataKind.Targets, file.targets as never);
    return { file: file as TargetsSigningFile, root, targets };
  } catch (error) {
    throw new CliError(
      'MALFORMED_SIGNING_FILE',
      'the signing file holds no valid root and targets metadata',
      {
        cause: error,
      },
    );
  }
}

/** Verifies every signature present (each must be by an authorized targets key) and counts them. */
export function targetsSigningStatus(loaded: LoadedSigningFile): TargetsSigningStatus {
  const role = loaded.root.signed.roles.targets;
  if (!role) throw new CliError('MALFORMED_SIGNING_FILE', 'the root defines no targets role');
  const signed: string[] = [];
  for (const keyid of Object.keys(loaded.targets.signatures)) {
    const key = loaded.root.signed.keys[keyid];
    if (!role.keyIDs.includes(keyid) || !key) {
      throw new CliError(
        'SIGNATURE_INVALID',
        `signature by ${keyid}, which is not a targets key of the root`,
      );
    }
    try {
      key.verifySignature(loaded.targets);
    } catch (error) {
      throw new CliError('SIGNATURE_INVALID', `the signature by ${keyid} does not verify`, {
        cause: error,
      });
    }
    signed.push(keyid);
  }
  return {
    version: loaded.targets.signed.version,
    expires: loaded.targets.signed.expires,
    payloadSha256: createHash('sha256')
      .update(canonicalize(loaded.targets.signed.toJSON()))
      .digest('hex'),
    added: loaded.file.added,
    keyids: [...role.keyIDs],
    threshold: role.threshold,
    signed,
    missing: role.keyIDs.filter((k) => !signed.includes(k)),
    complete: signed.length >= role.threshold,
  };
}

export function targetsStatusText(st: TargetsSigningStatus): string {
  return [
    `targets v${st.version}, expires ${st.expires}, adds ${st.added.join(', ') || 'nothing'}`,
    `payload sha256 (compare out of band before signing): ${st.payloadSha256}`,
    `  ${st.signed.length} of ${st.threshold} required signatures${st.complete ? ' (met)' : ''}`,
    ...st.missing.map((k) => `    not yet signed: ${k}`),
    st.complete
      ? 'complete: upload with `tufchain publish --signed-targets FILE`'
      : 'incomplete: more holders must sign',
  ].join('\n');
}

/** The exact bytes uploaded and served as `{version}.targets.json`. */
export function targetsBytes(targets: Metadata<Targets>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(targets.toJSON()));
}
