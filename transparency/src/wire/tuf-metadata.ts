import { Metadata, MetadataKind, MetaFile, Snapshot, TargetFile, Targets } from '@tufjs/models';
import { TransparencyError } from '../error.js';

/** A parsed metadata file, and the same with its signed part exactly as received. */
export interface ParsedMetadata<T extends Targets | Snapshot> {
  md: Metadata<T>;
  /**
   * What signatures are checked on (still by @tufjs/models): the same signatures over the signed
   * object exactly as received, which is what the signers signed, without re-serializing it.
   */
  asReceived: Metadata<T>;
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * `Metadata.fromJSON(MetadataKind.Targets, json)` in time linear in the targets: @tufjs/models 5
 * rebuilds the targets map one object spread at a time (quadratic), which a hashed bin or a flat
 * targets of 100,000 entries cannot afford. Everything but the targets map goes through
 * `Metadata.fromJSON`, each target through `TargetFile.fromJSON`, so it accepts and refuses
 * exactly what @tufjs/models does (an absent map is an empty one, as there). Throws
 * METADATA_MALFORMED.
 */
export function parseTargetsMetadata(json: unknown): ParsedMetadata<Targets> {
  return malformedUnlessParsed('targets', () => {
    const { received, rest, map } = splitSigned(json, 'targets');
    const shell = Metadata.fromJSON(MetadataKind.Targets, {
      ...(json as Record<string, unknown>),
      signed: { ...rest, targets: {} },
    });
    // Object.fromEntries defines own properties, so a target named `__proto__` stays a target.
    const targets = Object.fromEntries(
      Object.entries(map).map(([path, target]) => [
        path,
        TargetFile.fromJSON(path, target as never),
      ]),
    ) as Record<string, TargetFile>;
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
  });
}

/**
 * `parseTargetsMetadata` for snapshot metadata: its meta map has one entry per targets role
 * (2^B bins). Unlike @tufjs/models it requires the map. Throws METADATA_MALFORMED.
 */
export function parseSnapshotMetadata(json: unknown): ParsedMetadata<Snapshot> {
  return malformedUnlessParsed('snapshot', () => {
    const { received, rest, map } = splitSigned(json, 'meta');
    if (received.meta === undefined) throw new TypeError('meta must be an object');
    const shell = Metadata.fromJSON(MetadataKind.Snapshot, {
      ...(json as Record<string, unknown>),
      signed: { ...rest, meta: {} },
    });
    const meta = Object.fromEntries(
      Object.entries(map).map(([path, file]) => [path, MetaFile.fromJSON(file as never)]),
    ) as Record<string, MetaFile>;
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
  });
}

function splitSigned(
  json: unknown,
  mapField: 'targets' | 'meta',
): {
  received: Record<string, unknown>;
  rest: Record<string, unknown>;
  map: Record<string, unknown>;
} {
  if (!isRecord(json) || !isRecord(json.signed)) {
    throw new TypeError('metadata must be an object with a signed object');
  }
  const received = json.signed;
  const { [mapField]: map, ...rest } = received;
  if (map !== undefined && !isRecord(map)) throw new TypeError(`${mapField} must be an object`);
  return { received, rest, map: map ?? {} };
}

function malformedUnlessParsed<T>(role: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new TransparencyError(
      'METADATA_MALFORMED',
      `${role} metadata does not parse: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
