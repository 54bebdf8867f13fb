import { createHash } from 'node:crypto';
import { canonicalJson } from '@tufchain/transparency';
import { ServerError } from '../error.js';
import type { ReleaseImage, WaveSpec } from './model.js';

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
 * percentage of the group as it is now, less those an earlier wave already took. An auditor with
 * the salt, the snapshot and the earlier waves recomputes it exactly. Sorted (byte order).
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

/** sha256 hex of the canonical JSON of the release set: what every vehicle of a wave receives. */
export function assignmentSha256(release: readonly ReleaseImage[]): string {
  return createHash('sha256').update(canonicalJson(release)).digest('hex');
}

/** CAMPAIGN_WAVES_INVALID unless the percentages rise strictly to exactly 100. */
export function checkWaves(waves: readonly WaveSpec[]): void {
  let previous = 0;
  for (const [i, w] of waves.entries()) {
    if (!(w.percent > previous)) {
      throw new ServerError(
        'CAMPAIGN_WAVES_INVALID',
        `wave ${i + 1} must cover more than wave ${i} (${previous} %)`,
      );
    }
    previous = w.percent;
  }
  if (previous !== 100) {
    throw new ServerError('CAMPAIGN_WAVES_INVALID', 'the last wave must cover 100 % of the group');
  }
}
