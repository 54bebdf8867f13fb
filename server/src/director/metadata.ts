import type { Root } from '@tufjs/models';
import { Metadata, MetadataKind, MetaFile, Snapshot, TargetFile, Targets } from '@tufjs/models';
import { computeEcuCommitment, type DirectorTargetsLogEntry } from '@tufchain/transparency/wire';
import { ServerError } from '../error.js';
import type { AssignmentRecord } from './store.js';

// Pure builders of a vehicle's Director metadata (UPTANE.md "Director targets metadata").

const SPEC_VERSION = '1.0.31';

/** Targets listing exactly the images of `assignment` (none: nothing to install). */
export function buildDirectorTargets(o: {
  version: number;
  expires: string;
  vehicle: string;
  assignment: AssignmentRecord | undefined;
}): Metadata<Targets> {
  const targets: Record<string, TargetFile> = {};
  const byName = new Map<string, AssignmentRecord['images']>();
  for (const image of o.assignment?.images ?? []) {
    byName.set(image.name, [...(byName.get(image.name) ?? []), image]);
  }
  for (const [name, images] of byName) {
    const first = images[0]!;
    targets[name] = new TargetFile({
      path: name,
      length: first.length,
      hashes: { sha256: first.sha256, ...(first.sha512 ? { sha512: first.sha512 } : {}) },
      unrecognizedFields: {
        custom: {
          ecuIdentifiers: Object.fromEntries(
            images.map((i) => [i.ecuSerial, { hardwareId: i.hardwareId }]),
          ),
          releaseCounter: first.releaseCounter,
          uri: null,
        },
      },
    });
  }
  return new Metadata(
    new Targets({
      version: o.version,
      specVersion: SPEC_VERSION,
      expires: o.expires,
      targets,
      unrecognizedFields: {
        custom: {
          vehicle: o.vehicle,
          correlationId: o.assignment?.correlationId ?? null,
          atomic: o.assignment?.atomic ?? false,
        },
      },
    }),
  );
}

export function buildDirectorSnapshot(
  version: number,
  expires: string,
  targetsVersion: number,
): Metadata<Snapshot> {
  return new Metadata(
    new Snapshot({
      version,
      specVersion: SPEC_VERSION,
      expires,
      meta: { 'targets.json': new MetaFile({ version: targetsVersion }) },
    }),
  );
}

/** The log entry of a targets version (UPTANE.md "The log's promise for Director metadata"). */
export function directorLogEntry(o: {
  vehicle: string;
  version: number;
  targetsSha256: string;
  assignment: Pick<AssignmentRecord, 'correlationId' | 'images'> | undefined;
  /** 32 random bytes of this version: its ECU serials are logged only as commitments. */
  ecuSalt: Uint8Array;
}): DirectorTargetsLogEntry {
  return {
    type: 'director-targets',
    vehicle: o.vehicle,
    targetsVersion: o.version,
    targetsHash: o.targetsSha256,
    correlationId: o.assignment?.correlationId ?? null,
    images: (o.assignment?.images ?? []).map((i) => ({
      ecu: computeEcuCommitment(i.ecuSerial, o.ecuSalt),
      hardwareId: i.hardwareId,
      name: i.name,
      sha256: i.sha256,
      releaseCounter: i.releaseCounter,
    })),
  };
}

/** Parses root metadata bytes; METADATA_MALFORMED when they are not TUF root metadata. */
export function parseDirectorRoot(bytes: Uint8Array): Metadata<Root> {
  try {
    const json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as {
      signed?: { _type?: unknown };
    };
    if (json?.signed?._type !== 'root') throw new TypeError('not root metadata');
    return Metadata.fromJSON(MetadataKind.Root, json as Parameters<typeof Metadata.fromJSON>[1]);
  } catch (error) {
    throw new ServerError('METADATA_MALFORMED', 'Director root is not TUF root metadata', {
      cause: error,
    });
  }
}

/** Whether `bytes` (a role's metadata) carries a threshold of valid signatures under `root`. */
export function signedUnder(
  root: Metadata<Root>,
  role: 'targets' | 'snapshot' | 'timestamp',
  bytes: Uint8Array,
): boolean {
  const kinds = {
    targets: MetadataKind.Targets,
    snapshot: MetadataKind.Snapshot,
    timestamp: MetadataKind.Timestamp,
  } as const;
  try {
    const md = Metadata.fromJSON(
      kinds[role] as MetadataKind.Targets,
      JSON.parse(new TextDecoder().decode(bytes)) as Parameters<typeof Metadata.fromJSON>[1],
    );
    root.verifyDelegate(role, md);
    return true;
  } catch {
    return false;
  }
}
