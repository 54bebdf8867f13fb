import {
  Metadata,
  MetadataKind,
  type Root,
  type Snapshot,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { sha256Hex, type AuditSource } from '@tufchain/transparency';
import type { ServedExpiry } from './checks.js';

function parse<T extends Root | Snapshot | Targets | Timestamp>(
  bytes: Uint8Array,
  kind: MetadataKind,
): Metadata<T> {
  return Metadata.fromJSON(
    kind as never,
    JSON.parse(new TextDecoder().decode(bytes)) as never,
  ) as never;
}

/**
 * The newest root that chains from `from` (each rotation signed by the old and the new
 * thresholds, checked by @tufjs/models); stops at the first version the server does not serve.
 */
export async function followRootChain(
  source: AuditSource,
  from: Metadata<Root>,
): Promise<Metadata<Root>> {
  let current = from;
  for (;;) {
    const bytes = await source.rootMetadata(current.signed.version + 1);
    if (!bytes) return current;
    const next = parse<Root>(bytes, MetadataKind.Root);
    current.verifyDelegate(MetadataKind.Root, next);
    next.verifyDelegate(MetadataKind.Root, next);
    current = next;
  }
}

export function parseTrustedRoot(json: unknown): Metadata<Root> {
  const root = Metadata.fromJSON(MetadataKind.Root, json as never);
  root.verifyDelegate(MetadataKind.Root, root);
  return root;
}

/**
 * The roles of a logged snapshot that delegate (top-level targets and bins), verified from the
 * root down with @tufjs/models. Undefined when the served snapshot is not the logged one (the
 * auditor reports that).
 */
export async function fetchDelegators(
  source: AuditSource,
  root: Metadata<Root>,
  snapshotVersion: number,
  metadataHash: string,
): Promise<{ snapshot: Metadata<Snapshot>; delegators: Metadata<Targets>[] } | undefined> {
  const bytes = await source.metadata('snapshot', snapshotVersion);
  if (`0x${sha256Hex(bytes)}` !== metadataHash.toLowerCase()) return undefined;
  const snapshot = parse<Snapshot>(bytes, MetadataKind.Snapshot);
  root.verifyDelegate(MetadataKind.Snapshot, snapshot);
  const delegators: Metadata<Targets>[] = [];
  const targetsVersion = snapshot.signed.meta['targets.json']?.version;
  if (targetsVersion === undefined) return { snapshot, delegators };
  const targets = parse<Targets>(
    await source.metadata('targets', targetsVersion),
    MetadataKind.Targets,
  );
  root.verifyDelegate(MetadataKind.Targets, targets);
  delegators.push(targets);
  const binsVersion = snapshot.signed.meta['bins.json']?.version;
  if (binsVersion !== undefined && targets.signed.delegations?.roles?.bins) {
    const bins = parse<Targets>(await source.metadata('bins', binsVersion), MetadataKind.Targets);
    targets.verifyDelegate('bins', bins);
    delegators.push(bins);
  }
  return { snapshot, delegators };
}

/** Expiry of what a vehicle is served now: timestamp, the snapshot it names, its targets, root. */
export async function fetchServedExpiries(
  source: AuditSource,
  root: Metadata<Root>,
): Promise<ServedExpiry[]> {
  const out: ServedExpiry[] = [
    { role: 'root', version: root.signed.version, expires: root.signed.expires },
  ];
  const timestampBytes = await source.timestamp?.();
  if (!timestampBytes) return out;
  const timestamp = parse<Timestamp>(timestampBytes, MetadataKind.Timestamp);
  out.push({
    role: 'timestamp',
    version: timestamp.signed.version,
    expires: timestamp.signed.expires,
  });
  const snapshotVersion = timestamp.signed.snapshotMeta.version;
  const snapshot = parse<Snapshot>(
    await source.metadata('snapshot', snapshotVersion),
    MetadataKind.Snapshot,
  );
  out.push({
    role: 'snapshot',
    version: snapshot.signed.version,
    expires: snapshot.signed.expires,
  });
  const targetsVersion = snapshot.signed.meta['targets.json']?.version;
  if (targetsVersion !== undefined) {
    const targets = parse<Targets>(
      await source.metadata('targets', targetsVersion),
      MetadataKind.Targets,
    );
    out.push({ role: 'targets', version: targets.signed.version, expires: targets.signed.expires });
  }
  return out;
}
