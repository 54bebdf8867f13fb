import type { Metadata, MetadataKind, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';

/** The index of the newest root whose `role` keys (threshold) signed `md`, or -1. */
export function newestSigningRoot(
  roots: readonly Metadata<Root>[],
  role: MetadataKind.Targets | MetadataKind.Snapshot | MetadataKind.Timestamp,
  md: Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>,
): number {
  for (let i = roots.length - 1; i >= 0; i--) {
    try {
      roots[i]!.verifyDelegate(role, md);
      return i;
    } catch {
      // keys of another root version may have signed it
    }
  }
  return -1;
}
