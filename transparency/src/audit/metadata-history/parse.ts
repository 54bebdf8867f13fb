import { Metadata, MetadataKind, MetaFile, Snapshot, TargetFile, Targets } from '@tufjs/models';
import { isHash32, normalizeHash32 } from '../../util/hex.js';
import type { FirmwareTarget } from './model.js';

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Parses targets metadata with @tufjs/models in time linear in its targets: `Targets.fromJSON` and
 * `Targets.toJSON` of @tufjs/models 5 rebuild the targets map one spread at a time (quadratic),
 * which a bin or a flat targets of 100,000 entries cannot afford. Everything but the targets map
 * goes through `Metadata.fromJSON`; each target through `TargetFile.fromJSON`. `asReceived` is
 * what signatures are checked on (still by @tufjs/models): the same signatures over the signed
 * object exactly as received, which is what the signers signed.
 */
export function parseTargets(json: unknown): {
  md: Metadata<Targets>;
  asReceived: Metadata<Targets>;
} {
  if (!isRecord(json) || !isRecord(json.signed)) {
    throw new TypeError('metadata must be an object with a signed object');
  }
  const received = json.signed;
  const { targets: rawTargets, ...rest } = received;
  if (!isRecord(rawTargets)) throw new TypeError('targets must be an object');
  const shell = Metadata.fromJSON(MetadataKind.Targets, {
    ...json,
    signed: { ...rest, targets: {} },
  });
  const targets: Record<string, TargetFile> = {};
  for (const [path, target] of Object.entries(rawTargets)) {
    targets[path] = TargetFile.fromJSON(path, target as never);
  }
  const signed = new Targets({
    version: shell.signed.version,
    specVersion: shell.signed.specVersion,
    expires: shell.signed.expires,
    targets,
    ...(shell.signed.delegations ? { delegations: shell.signed.delegations } : {}),
    unrecognizedFields: shell.signed.unrecognizedFields,
  });
  const asReceived = new Targets({
    version: signed.version,
    specVersion: signed.specVersion,
    expires: signed.expires,
  });
  Object.defineProperty(asReceived, 'toJSON', { value: () => received });
  return {
    md: new Metadata(signed, shell.signatures, shell.unrecognizedFields),
    asReceived: new Metadata(asReceived, shell.signatures, shell.unrecognizedFields),
  };
}

/** `parseTargets` for snapshot metadata: its meta map has one entry per targets role (2^B bins). */
export function parseSnapshot(json: unknown): {
  md: Metadata<Snapshot>;
  asReceived: Metadata<Snapshot>;
} {
  if (!isRecord(json) || !isRecord(json.signed)) {
    throw new TypeError('metadata must be an object with a signed object');
  }
  const received = json.signed;
  const { meta: rawMeta, ...rest } = received;
  if (!isRecord(rawMeta)) throw new TypeError('meta must be an object');
  const shell = Metadata.fromJSON(MetadataKind.Snapshot, {
    ...json,
    signed: { ...rest, meta: {} },
  });
  const meta: Record<string, MetaFile> = {};
  for (const [path, file] of Object.entries(rawMeta)) meta[path] = MetaFile.fromJSON(file as never);
  const base = {
    version: shell.signed.version,
    specVersion: shell.signed.specVersion,
    expires: shell.signed.expires,
  };
  const signed = new Snapshot({
    ...base,
    meta,
    unrecognizedFields: shell.signed.unrecognizedFields,
  });
  const asReceived = new Snapshot({ ...base, meta: {} });
  Object.defineProperty(asReceived, 'toJSON', { value: () => received });
  return {
    md: new Metadata(signed, shell.signatures, shell.unrecognizedFields),
    asReceived: new Metadata(asReceived, shell.signatures, shell.unrecognizedFields),
  };
}

/** The firmware targets a targets role lists (attestation bundles and non-sha256 targets aside). */
export function firmwareTargets(role: string, targets: Targets): FirmwareTarget[] {
  const out: FirmwareTarget[] = [];
  for (const [name, file] of Object.entries(targets.targets)) {
    const custom = file.custom ?? {};
    if (custom.kind === 'attestation') continue;
    const sha256 = file.hashes.sha256;
    if (!sha256 || !isHash32(sha256)) continue;
    out.push({
      name,
      sha256: normalizeHash32(sha256),
      hardwareIds: Array.isArray(custom.hardwareIds)
        ? [...new Set(custom.hardwareIds.filter((h): h is string => typeof h === 'string'))]
        : [],
      releaseCounter: typeof custom.releaseCounter === 'number' ? custom.releaseCounter : undefined,
      attestation: typeof custom.attestation === 'string' ? custom.attestation : undefined,
      role,
    });
  }
  return out;
}
