import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetadataKind, type Key, type Root, type Targets } from '@tufjs/models';
import { CliError } from './error.js';
import { targetAt } from '../tuf/metadata.js';

/**
 * The file that moves between offline targets key holders: the new targets metadata (wire form),
 * the targets metadata it replaces (as served, with its signatures) and the root that says which keys
 * may sign both. Holders add signatures with `tufchain sign --role targets`; what a holder signs is
 * shown as a diff computed from the file, never taken from a list in it.
 */
export const TARGETS_SIGNING_FORMAT = 'tufchain/targets-signing/v1';

type Wire = Record<string, unknown>;

export interface TargetsSigningFile {
  format: typeof TARGETS_SIGNING_FORMAT;
  /** Server the file was prepared against. */
  server: string;
  root: Wire;
  /** The targets metadata currently served (signed by a threshold of the root's targets keys); null for targets v1. */
  previous: Wire | null;
  /** The new targets metadata being signed. */
  targets: Wire;
}

export interface LoadedSigningFile {
  file: TargetsSigningFile;
  root: Metadata<Root>;
  previous: Metadata<Targets> | null;
  targets: Metadata<Targets>;
}

export interface AddedTarget {
  path: string;
  length: number;
  sha256: string | undefined;
  kind: string | undefined;
}

export interface TargetsSigningStatus {
  version: number;
  previousVersion: number | null;
  expires: string;
  /** sha256 of the canonical signed bytes: holders compare it out of band before signing. */
  payloadSha256: string;
  added: AddedTarget[];
  removed: string[];
  keyids: string[];
  threshold: number;
  signed: string[];
  missing: string[];
  complete: boolean;
}

export function parseSigningFileMetadata<T extends Root | Targets>(
  kind: MetadataKind,
  json: unknown,
  what: string,
): Metadata<T> {
  try {
    return Metadata.fromJSON(kind as MetadataKind.Root, json as never) as unknown as Metadata<T>;
  } catch (error) {
    throw new CliError('MALFORMED_SIGNING_FILE', `the signing file's ${what} is not TUF metadata`, {
      cause: error,
    });
  }
}

export function loadSigningFile(json: unknown): LoadedSigningFile {
  const file = json as Partial<TargetsSigningFile> | null;
  if (!file || typeof file !== 'object' || file.format !== TARGETS_SIGNING_FORMAT) {
    throw new CliError('MALFORMED_SIGNING_FILE', `not a ${TARGETS_SIGNING_FORMAT} file`);
  }
  if (typeof file.server !== 'string') {
    throw new CliError('MALFORMED_SIGNING_FILE', 'the signing file names no server');
  }
  return {
    file: file as TargetsSigningFile,
    root: parseSigningFileMetadata<Root>(MetadataKind.Root, file.root, 'root'),
    previous:
      file.previous === null
        ? null
        : parseSigningFileMetadata<Targets>(
            MetadataKind.Targets,
            file.previous,
            'previous targets',
          ),
    targets: parseSigningFileMetadata<Targets>(MetadataKind.Targets, file.targets, 'targets'),
  };
}

const canonicalSigned = (md: Metadata<Root> | Metadata<Targets>): string =>
  canonicalize(md.signed.toJSON());

/**
 * Throws ROOT_NOT_TRUSTED unless `root` is the holder's trusted root or its successor signed by
 * it: a server (or whoever handed out the file) could embed another root.
 */
export function assertTrustedRoot(root: Metadata<Root>, trustedRoot: Metadata<Root>): void {
  const same =
    root.signed.version === trustedRoot.signed.version &&
    canonicalSigned(root) === canonicalSigned(trustedRoot);
  let next = false;
  if (!same && root.signed.version === trustedRoot.signed.version + 1) {
    try {
      trustedRoot.verifyDelegate('root', root);
      root.verifyDelegate('root', root);
      next = true;
    } catch {
      next = false;
    }
  }
  if (!same && !next) {
    throw new CliError(
      'ROOT_NOT_TRUSTED',
      `the signing file's root v${root.signed.version} is not the trusted root v${trustedRoot.signed.version} (nor signed by it)`,
    );
  }
}

/**
 * What `next` adds to and removes from `previous` (a targets role); a released target that changed
 * throws TARGETS_CHANGED.
 */
export function diffTargets(
  previous: Metadata<Targets> | null,
  next: Metadata<Targets>,
): { added: AddedTarget[]; removed: string[] } {
  const added: AddedTarget[] = [];
  for (const [path, file] of Object.entries(next.signed.targets)) {
    const old = previous && targetAt(previous.signed.targets, path);
    if (!old) {
      const kind = file.custom.kind;
      added.push({
        path,
        length: file.length,
        sha256: file.hashes.sha256,
        kind: typeof kind === 'string' ? kind : undefined,
      });
    } else if (!old.equals(file)) {
      throw new CliError('TARGETS_CHANGED', `target ${path} differs from the released one`);
    }
  }
  const removed = Object.keys(previous?.signed.targets ?? {}).filter(
    (p) => !targetAt(next.signed.targets, p),
  );
  return { added, removed };
}

/**
 * The key ids whose signatures on `md` verify; a signature by a key the role does not name, or one
 * that does not verify, throws SIGNATURE_INVALID (`roleKeys` says whose keys, for the message).
 */
export function verifiedSignatures(
  md: Metadata<Targets>,
  role: { keyIDs: readonly string[]; keys: Record<string, Key | undefined>; roleKeys: string },
): string[] {
  const signed: string[] = [];
  for (const keyid of Object.keys(md.signatures)) {
    const key = role.keys[keyid];
    if (!role.keyIDs.includes(keyid) || !key) {
      throw new CliError(
        'SIGNATURE_INVALID',
        `signature by ${keyid}, which is not ${role.roleKeys}`,
      );
    }
    try {
      key.verifySignature(md);
    } catch (error) {
      throw new CliError('SIGNATURE_INVALID', `the signature by ${keyid} does not verify`, {
        cause: error,
      });
    }
    signed.push(keyid);
  }
  return signed;
}

/** sha256 of the canonical signed bytes: holders compare it out of band before signing. */
export function payloadSha256(md: Metadata<Root> | Metadata<Targets>): string {
  return createHash('sha256').update(canonicalSigned(md)).digest('hex');
}

/**
 * Checks the file, then counts signatures: the embedded root is the trusted root (or the next one,
 * signed by it) when `trustedRoot` is given; the previous targets carry a threshold of the root's
 * targets signatures; the new version only adds targets (changed ones throw TARGETS_CHANGED); every
 * signature present is by an authorized key and verifies.
 */
export function targetsSigningStatus(
  loaded: LoadedSigningFile,
  trustedRoot?: Metadata<Root>,
): TargetsSigningStatus {
  const { root, previous, targets } = loaded;
  if (trustedRoot) assertTrustedRoot(root, trustedRoot);
  const role = root.signed.roles.targets;
  if (!role) throw new CliError('MALFORMED_SIGNING_FILE', 'the root defines no targets role');
  if (previous === null) {
    if (targets.signed.version !== 1) {
      throw new CliError('MALFORMED_SIGNING_FILE', 'only targets v1 may have no previous version');
    }
  } else {
    try {
      root.verifyDelegate('targets', previous);
    } catch (error) {
      throw new CliError(
        'PREVIOUS_TARGETS_INVALID',
        `the previous targets v${previous.signed.version} lacks a threshold of targets signatures`,
        { cause: error },
      );
    }
    if (targets.signed.version <= previous.signed.version) {
      throw new CliError(
        'MALFORMED_SIGNING_FILE',
        `targets v${targets.signed.version} does not follow v${previous.signed.version}`,
      );
    }
  }
  const { added, removed } = diffTargets(previous, targets);
  const signed = verifiedSignatures(targets, {
    keyIDs: role.keyIDs,
    keys: root.signed.keys,
    roleKeys: 'a targets key of the root',
  });
  return {
    version: targets.signed.version,
    previousVersion: previous?.signed.version ?? null,
    expires: targets.signed.expires,
    payloadSha256: payloadSha256(targets),
    added,
    removed,
    keyids: [...role.keyIDs],
    threshold: role.threshold,
    signed,
    missing: role.keyIDs.filter((k) => !signed.includes(k)),
    complete: signed.length >= role.threshold,
  };
}

export function targetsStatusText(st: TargetsSigningStatus): string {
  return [
    `targets v${st.version}${st.previousVersion === null ? ' (the first)' : ` (replaces v${st.previousVersion})`}, expires ${st.expires}`,
    ...st.added.map(
      (a) => `  + ${a.path} (${a.length} bytes, sha256 ${a.sha256 ?? '?'}, ${a.kind ?? 'no kind'})`,
    ),
    ...st.removed.map((p) => `  - ${p}`),
    `payload sha256 (compare out of band before signing): ${st.payloadSha256}`,
    `  ${st.signed.length} of ${st.threshold} required signatures${st.complete ? ' (met)' : ''}`,
    ...st.missing.map((k) => `    not yet signed: ${k}`),
    st.complete
      ? st.previousVersion === null
        ? 'complete: write it with `tufchain repo finalize-targets FILE` for the server bootstrap'
        : 'complete: upload with `tufchain publish --signed-targets FILE`'
      : 'incomplete: more holders must sign',
  ].join('\n');
}

/** The exact bytes uploaded and served as `{version}.targets.json`. */
export function targetsBytes(targets: Metadata<Targets>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(targets.toJSON()));
}
