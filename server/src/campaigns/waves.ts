import { campaignReleaseSha256 } from '@tufchain/transparency/wire';
import { ServerError } from '../error.js';
import type { ReleaseImage, WaveSpec } from './model.js';

export { cumulativeCount, waveMembers, waveRank } from '@tufchain/transparency/wire';

/** sha256 hex of the canonical JSON of the release set: what every vehicle of a wave receives. */
export function assignmentSha256(release: readonly ReleaseImage[]): string {
  return campaignReleaseSha256(release);
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
