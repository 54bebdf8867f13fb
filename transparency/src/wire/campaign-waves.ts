import { createHash } from 'node:crypto';
import { canonicalJson } from '../log/entry.js';

// Wave membership of a campaign, shared by the server that chooses the waves and the auditor that
// recomputes them from the logged salt and the opened snapshots: one definition, so they agree.

/** sha256 hex of the canonical JSON of a sorted vehicle list (a wave's `membersSha256`). */
export function campaignMembersSha256(sortedMembers: readonly string[]): string {
  return createHash('sha256').update(canonicalJson(sortedMembers)).digest('hex');
}

/** sha256(salt ‖ commitment) as hex: a vehicle's place in a campaign's order of waves. */
export function waveRank(saltHex: string, commitment: string): string {
  return createHash('sha256')
    .update(Buffer.from(saltHex, 'hex'))
    .update(Buffer.from(commitment, 'hex'))
    .digest('hex');
}

/** How many of `total` members a cumulative percentage covers: at least one when above 0. */
export function cumulativeCount(total: number, percent: number): number {
  if (percent <= 0 || total === 0) return 0;
  return Math.min(total, Math.max(1, Math.ceil((total * percent) / 100)));
}

/**
 * The members a wave adds: the group's members ordered by waveRank, cut at the wave's cumulative
 * percentage of the group as it is now, less those an earlier wave already took. Sorted (byte
 * order).
 */
export function waveMembers(
  saltHex: string,
  snapshotMembers: readonly string[],
  percent: number,
  alreadyInCampaign: ReadonlySet<string>,
): string[] {
  const ranked = snapshotMembers
    .map((vehicle) => ({ vehicle, rank: waveRank(saltHex, vehicle) }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  return ranked
    .slice(0, cumulativeCount(snapshotMembers.length, percent))
    .map((r) => r.vehicle)
    .filter((v) => !alreadyInCampaign.has(v))
    .sort();
}

/** sha256 hex of the canonical JSON of a release set: what every vehicle of a wave receives. */
export function campaignReleaseSha256(release: readonly unknown[]): string {
  return createHash('sha256').update(canonicalJson(release)).digest('hex');
}
