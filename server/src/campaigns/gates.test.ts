import { describe, expect, it } from 'vitest';
import { countWaves, decideGate, outcomeOf } from './gates.js';
import type { CampaignRecord, VehicleOutcomeRow, WaveRecord } from './model.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);

const campaign = (over: Partial<CampaignRecord> = {}): CampaignRecord => ({
  id: 1,
  urn: `urn:tufchain:campaign:${'0'.repeat(32)}`,
  name: 'c',
  groupId: 1,
  release: [],
  waves: [
    { percent: 10, minSoakSeconds: 60, successPercent: 90 },
    { percent: 100, minSoakSeconds: 60, successPercent: 90 },
  ],
  failureThreshold: { percent: 2, count: null },
  maxDeferrals: 3,
  salt: '00',
  state: 'running',
  wave: 1,
  reason: null,
  version: 3,
  createdAt: T0,
  createdBy: 't',
  updatedAt: T0,
  ...over,
});

const wave = (n: number, over: Partial<WaveRecord> = {}): WaveRecord => ({
  campaignId: 1,
  wave: n,
  snapshotId: 1,
  memberCount: 0,
  membersSha256: '',
  assignmentSha256: '',
  startedAt: T0,
  assignedAt: T0,
  acknowledgedFailures: 0,
  ...over,
});

/** `n` assigned vehicles of wave `w`, `ok` of them succeeded and `bad` failed. */
function rows(w: number, n: number, ok: number, bad: number): VehicleOutcomeRow[] {
  return Array.from({ length: n }, (_, i) => ({
    vehicle: `${w}-${i}`,
    wave: w,
    status: 'assigned',
    reason: null,
    directorStatus: 'active',
    imageCount: 1,
    succeededImages: i < ok ? 1 : 0,
    failureReports: i >= ok && i < ok + bad ? 1 : 0,
    manifestFailures: 0,
    deferrals: 0,
    assignmentId: i + 1,
  }));
}

describe('outcomeOf', () => {
  const base = rows(1, 1, 0, 0)[0]!;
  it.each([
    { desc: 'a pending row', row: { ...base, status: 'pending' as const }, want: 'assigning' },
    { desc: 'a skipped row', row: { ...base, status: 'skipped' as const }, want: 'skipped' },
    {
      desc: 'a completed assignment',
      row: { ...base, directorStatus: 'completed' as const },
      want: 'succeeded',
    },
    {
      desc: 'a failure report',
      row: { ...base, failureReports: 1, succeededImages: 1 },
      want: 'failed',
    },
    {
      desc: 'every image reported installed',
      row: { ...base, succeededImages: 1 },
      want: 'succeeded',
    },
    {
      desc: 'one of two images reported',
      row: { ...base, imageCount: 2, succeededImages: 1 },
      want: 'in-progress',
    },
    { desc: 'no report', row: base, want: 'in-progress' },
    {
      desc: 'a signed manifest reporting failure',
      row: { ...base, manifestFailures: 1 },
      want: 'failed',
    },
    { desc: 'two deferrals of three allowed', row: { ...base, deferrals: 2 }, want: 'deferred' },
    {
      desc: 'three deferrals of three allowed',
      row: { ...base, deferrals: 3 },
      want: 'retries-exhausted',
    },
    {
      desc: 'a success after deferrals',
      row: { ...base, deferrals: 3, succeededImages: 1 },
      want: 'succeeded',
    },
  ])('classifies $desc as $want', ({ row, want }) => {
    expect(outcomeOf(row, 3)).toBe(want);
  });
});

describe('decideGate', () => {
  it('stops when failures pass the percentage of assigned vehicles, before the soak ends', () => {
    const counts = countWaves(rows(1, 100, 10, 3), 2, 3);
    expect(decideGate(campaign(), [wave(1)], counts, at(1))).toMatchObject({
      kind: 'stop',
      wave: 1,
      failed: 3,
      assigned: 100,
    });
  });

  it('does not stop at exactly the percentage', () => {
    const counts = countWaves(rows(1, 100, 98, 2), 2, 3);
    expect(decideGate(campaign(), [wave(1)], counts, at(120)).kind).toBe('next-wave');
  });

  it('stops at a failure count', () => {
    const c = campaign({ failureThreshold: { percent: null, count: 2 } });
    expect(decideGate(c, [wave(1)], countWaves(rows(1, 1000, 0, 2), 2, 3), at(0)).kind).toBe(
      'stop',
    );
    expect(decideGate(c, [wave(1)], countWaves(rows(1, 1000, 0, 1), 2, 3), at(0)).kind).toBe(
      'wait',
    );
  });

  it('counts only failures beyond those acknowledged on resuming', () => {
    const counts = countWaves(rows(1, 100, 95, 3), 2, 3);
    expect(
      decideGate(campaign(), [wave(1, { acknowledgedFailures: 3 })], counts, at(120)).kind,
    ).toBe('next-wave');
  });

  it('waits while the wave is being assigned, soaking, or below its success percentage', () => {
    const good = countWaves(rows(1, 10, 10, 0), 2, 3);
    expect(decideGate(campaign(), [wave(1, { assignedAt: null })], good, at(999))).toMatchObject({
      why: 'assigning',
    });
    expect(decideGate(campaign(), [wave(1)], good, at(59))).toMatchObject({ why: 'soaking' });
    const slow = countWaves(rows(1, 10, 8, 0), 2, 3);
    expect(decideGate(campaign(), [wave(1)], slow, at(60))).toMatchObject({
      why: 'below the success percentage',
    });
    expect(decideGate(campaign(), [wave(1)], good, at(60)).kind).toBe('next-wave');
  });

  it('leaves vehicles that deferred too often out of the success percentage', () => {
    const rowsWithDeferrals = rows(1, 10, 8, 0).map((r, i) =>
      i >= 8 ? { ...r, deferrals: 3 } : r,
    );
    const counts = countWaves(rowsWithDeferrals, 2, 3);
    expect(counts[0]).toMatchObject({ succeeded: 8, retriesExhausted: 2, assigned: 10 });
    expect(decideGate(campaign(), [wave(1)], counts, at(60)).kind).toBe('next-wave');
    const stillTrying = countWaves(rowsWithDeferrals, 2, 4);
    expect(stillTrying[0]).toMatchObject({ deferred: 2, retriesExhausted: 0 });
    expect(decideGate(campaign(), [wave(1)], stillTrying, at(60)).kind).toBe('wait');
  });

  it('finishes after the last wave passes its gate, and does nothing unless running', () => {
    const counts = countWaves([...rows(1, 10, 10, 0), ...rows(2, 90, 90, 0)], 2, 3);
    const last = campaign({ wave: 2 });
    expect(decideGate(last, [wave(1), wave(2)], counts, at(60)).kind).toBe('finish');
    expect(decideGate({ ...last, state: 'paused' }, [wave(1), wave(2)], counts, at(60)).kind).toBe(
      'wait',
    );
  });
});
