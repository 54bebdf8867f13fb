import type { CampaignRecord, VehicleOutcomeRow, WaveRecord } from './model.js';

export type VehicleOutcome =
  | 'assigning'
  | 'skipped'
  | 'in-progress'
  | 'deferred'
  | 'retries-exhausted'
  | 'succeeded'
  | 'failed'
  | 'cancelled';

/**
 * What verified reports say of one campaign vehicle. Success: the Director completed its
 * assignment (a signed version manifest showed every image installed) or every assigned image has
 * a verified SUCCESS install attestation; failure: a verified FAILURE or ROLLED_BACK attestation
 * for an assigned image, or a signed manifest whose installation report says it failed; deferred:
 * signed manifests saying the install was put off, counted apart, until `maxDeferrals` of them
 * end the wait. Only reports the intake verified are in the store, so nothing unsigned counts.
 */
export function outcomeOf(row: VehicleOutcomeRow, maxDeferrals: number): VehicleOutcome {
  if (row.status === 'pending') return 'assigning';
  if (row.status === 'skipped') return 'skipped';
  if (row.directorStatus === 'completed') return 'succeeded';
  if (row.failureReports > 0 || row.manifestFailures > 0) return 'failed';
  if (row.imageCount > 0 && row.succeededImages >= row.imageCount) return 'succeeded';
  if (row.deferrals >= maxDeferrals) return 'retries-exhausted';
  if (row.directorStatus === 'cancelled') return 'cancelled';
  if (row.deferrals > 0) return 'deferred';
  return 'in-progress';
}

export interface WaveCounts {
  wave: number;
  members: number;
  assigning: number;
  skipped: number;
  inProgress: number;
  deferred: number;
  /** Vehicles that deferred `maxDeferrals` times: no longer waited for, not in the success gate. */
  retriesExhausted: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Members the Director holds an assignment for: the denominator of the thresholds. */
  assigned: number;
}

/** A wave's counts before any vehicle of it is counted. */
export const emptyCounts = (wave: number): WaveCounts => ({
  wave,
  members: 0,
  assigning: 0,
  skipped: 0,
  inProgress: 0,
  deferred: 0,
  retriesExhausted: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  assigned: 0,
});

/** Counts per wave, for waves 1..`waves`. */
export function countWaves(
  rows: readonly VehicleOutcomeRow[],
  waves: number,
  maxDeferrals: number,
): WaveCounts[] {
  const counts = Array.from({ length: waves }, (_, i) => emptyCounts(i + 1));
  const key = {
    assigning: 'assigning',
    skipped: 'skipped',
    'in-progress': 'inProgress',
    deferred: 'deferred',
    'retries-exhausted': 'retriesExhausted',
    succeeded: 'succeeded',
    failed: 'failed',
    cancelled: 'cancelled',
  } as const;
  for (const row of rows) {
    const c = counts[row.wave - 1];
    if (!c) continue;
    const outcome = outcomeOf(row, maxDeferrals);
    c.members += 1;
    c[key[outcome]] += 1;
    if (row.status === 'assigned') c.assigned += 1;
  }
  return counts;
}

export type GateDecision =
  | { kind: 'wait'; why: string }
  | { kind: 'stop'; wave: number; failed: number; assigned: number; threshold: string }
  | { kind: 'next-wave' }
  | { kind: 'finish' };

/**
 * What a running campaign does next: stop when a started wave's failures (beyond those the OEM
 * acknowledged) pass the threshold; once the current wave is assigned, has soaked its minimum
 * time and reached its success percentage, start the next wave, or finish after the last.
 */
export function decideGate(
  campaign: CampaignRecord,
  waves: readonly WaveRecord[],
  counts: readonly WaveCounts[],
  now: Date,
): GateDecision {
  if (campaign.state !== 'running') return { kind: 'wait', why: `campaign is ${campaign.state}` };
  const stop = failureStop(campaign, waves, counts);
  if (stop) return stop;
  const current = waves.find((w) => w.wave === campaign.wave);
  const spec = campaign.waves[campaign.wave - 1];
  const c = counts[campaign.wave - 1];
  if (!current || !spec || !c) return { kind: 'wait', why: 'no current wave' };
  if (current.assignedAt === null) return { kind: 'wait', why: 'assigning' };
  const soakedMs = now.getTime() - Date.parse(current.assignedAt);
  if (soakedMs < spec.minSoakSeconds * 1000) return { kind: 'wait', why: 'soaking' };
  const waited = c.assigned - c.retriesExhausted;
  if (waited > 0 && c.succeeded * 100 < spec.successPercent * waited) {
    return { kind: 'wait', why: 'below the success percentage' };
  }
  return campaign.wave >= campaign.waves.length ? { kind: 'finish' } : { kind: 'next-wave' };
}

/**
 * The automatic stop alone: a started wave whose failures beyond those acknowledged pass the
 * count or the percentage of its assigned vehicles. Checked between assignment batches too, so a
 * large wave stops mid-assignment.
 */
export function failureStop(
  campaign: CampaignRecord,
  waves: readonly WaveRecord[],
  counts: readonly WaveCounts[],
): Extract<GateDecision, { kind: 'stop' }> | undefined {
  const { percent, count } = campaign.failureThreshold;
  for (const wave of waves) {
    const c = counts[wave.wave - 1];
    if (!c) continue;
    const failed = Math.max(0, c.failed - wave.acknowledgedFailures);
    if (count !== null && failed >= count) {
      return {
        kind: 'stop',
        wave: wave.wave,
        failed,
        assigned: c.assigned,
        threshold: `count ${count}`,
      };
    }
    if (percent !== null && c.assigned > 0 && failed * 100 > percent * c.assigned) {
      return {
        kind: 'stop',
        wave: wave.wave,
        failed,
        assigned: c.assigned,
        threshold: `percent ${percent}`,
      };
    }
  }
  return undefined;
}
