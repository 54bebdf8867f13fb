import { emptyCounts, type WaveCounts } from '../campaigns/gates.js';
import type { CampaignRecord, FailureThreshold, WaveRecord, WaveSpec } from '../campaigns/model.js';

/** Where a wave stands against its gate, as the campaign engine's decideGate sees it. */
export type WavePhase =
  | 'not-started'
  | 'assigning'
  | 'soaking'
  | 'below-success'
  | 'gate-open'
  | 'passed'
  /** The current wave of a paused, stopped or cancelled campaign: no gate opens until resumed. */
  | 'halted';

/** One wave of a campaign as the console shows it: spec, counts and its gate, computed. */
export interface WaveProgress {
  wave: number;
  spec: WaveSpec;
  record: WaveRecord | null;
  counts: WaveCounts;
  phase: WavePhase;
  /** Seconds of soak still to go; null before the wave is fully assigned. */
  soakLeftSeconds: number | null;
  /** Vehicles the success gate counts: assigned, less those no longer waited for. */
  waited: number;
  /** succeeded / waited in percent; null when nobody is waited for. */
  successPercentNow: number | null;
  successMet: boolean;
  /** Failures beyond those the OEM acknowledged on resuming: what the threshold sees. */
  failuresCounted: number;
  /** Counted failures at which the campaign stops; null when no bound applies yet. */
  stopsAt: number | null;
}

/**
 * The smallest failure count that stops a wave of `assigned` vehicles (failureStop in
 * src/campaigns/gates.ts: `count` failures, or failures × 100 > percent × assigned).
 */
export function failuresToStop(threshold: FailureThreshold, assigned: number): number | null {
  const bounds: number[] = [];
  if (threshold.count !== null) bounds.push(threshold.count);
  if (threshold.percent !== null && assigned > 0)
    bounds.push(Math.floor((threshold.percent * assigned) / 100) + 1);
  return bounds.length === 0 ? null : Math.min(...bounds);
}

/** Each wave of the campaign with its gate's state at `now`. */
export function waveProgress(
  campaign: CampaignRecord,
  records: readonly (WaveRecord | null)[],
  counts: readonly WaveCounts[],
  now: Date,
): WaveProgress[] {
  return campaign.waves.map((spec, i) => {
    const wave = i + 1;
    const record = records[i] ?? null;
    const c = counts[i] ?? emptyCounts(wave);
    const waited = c.assigned - c.retriesExhausted;
    const successPercentNow = waited > 0 ? (c.succeeded * 100) / waited : null;
    const successMet = waited <= 0 || c.succeeded * 100 >= spec.successPercent * waited;
    const soakLeftSeconds =
      record?.assignedAt != null
        ? Math.max(
            0,
            Math.ceil(
              (Date.parse(record.assignedAt) + spec.minSoakSeconds * 1000 - now.getTime()) / 1000,
            ),
          )
        : null;
    const phase: WavePhase =
      record === null
        ? 'not-started'
        : wave < campaign.wave || campaign.state === 'finished'
          ? 'passed'
          : campaign.state !== 'running'
            ? 'halted'
            : record.assignedAt === null
              ? 'assigning'
              : (soakLeftSeconds ?? 0) > 0
                ? 'soaking'
                : successMet
                  ? 'gate-open'
                  : 'below-success';
    return {
      wave,
      spec,
      record,
      counts: c,
      phase,
      soakLeftSeconds,
      waited,
      successPercentNow,
      successMet,
      failuresCounted: Math.max(0, c.failed - (record?.acknowledgedFailures ?? 0)),
      stopsAt: failuresToStop(campaign.failureThreshold, c.assigned),
    };
  });
}
