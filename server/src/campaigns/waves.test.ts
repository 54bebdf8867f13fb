import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ServerError } from '../error.js';
import { assignmentSha256, checkWaves, cumulativeCount, waveMembers, waveRank } from './waves.js';

const SALT = 'ab'.repeat(32);
const fleet = Array.from({ length: 1000 }, (_, i) =>
  createHash('sha256').update(`vehicle ${i}`).digest('hex'),
);
const spec = (percent: number) => ({ percent, minSoakSeconds: 0, successPercent: 0 });

/** Waves 1..n in order, each excluding the earlier ones, as the campaign runs them. */
function runWaves(salt: string, members: readonly string[], percents: number[]): string[][] {
  const taken = new Set<string>();
  return percents.map((p) => {
    const wave = waveMembers(salt, members, p, taken);
    for (const v of wave) taken.add(v);
    return wave;
  });
}

describe('waveRank', () => {
  it('is sha256 of the salt bytes then the commitment bytes, so an auditor recomputes it', () => {
    const v = fleet[0]!;
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from(SALT, 'hex'), Buffer.from(v, 'hex')]))
      .digest('hex');
    expect(waveRank(SALT, v)).toBe(expected);
  });
});

describe('waveMembers', () => {
  it('takes exactly the cumulative percentage of the group per wave, each vehicle once', () => {
    const waves = runWaves(SALT, fleet, [1, 10, 50, 100]);
    expect(waves.map((w) => w.length)).toEqual([10, 90, 400, 500]);
    const all = waves.flat();
    expect(new Set(all).size).toBe(1000);
    expect([...all].sort()).toEqual([...fleet].sort());
  });

  it('gives the same waves whatever order the members come in', () => {
    const shuffled = [...fleet].reverse();
    expect(runWaves(SALT, shuffled, [1, 10, 50, 100])).toEqual(
      runWaves(SALT, fleet, [1, 10, 50, 100]),
    );
  });

  it('puts the vehicles of lowest rank first, and another salt gives another canary', () => {
    const [canary] = runWaves(SALT, fleet, [1]);
    const lowest = [...fleet]
      .sort((a, b) => (waveRank(SALT, a) < waveRank(SALT, b) ? -1 : 1))
      .slice(0, 10)
      .sort();
    expect(canary).toEqual(lowest);
    const [other] = runWaves('cd'.repeat(32), fleet, [1]);
    expect(other).not.toEqual(canary);
  });

  it('does not depend on members outside the cut: dropping one of the last wave changes no canary', () => {
    const [canary] = runWaves(SALT, fleet, [1]);
    const last = runWaves(SALT, fleet, [1, 100])[1]!;
    const smaller = fleet.filter((v) => v !== last[0]);
    expect(runWaves(SALT, smaller, [1])[0]).toEqual(canary);
  });

  it('takes at least one vehicle of a small group for a small percentage, none of an empty one', () => {
    expect(waveMembers(SALT, fleet.slice(0, 20), 1, new Set())).toHaveLength(1);
    expect(waveMembers(SALT, [], 50, new Set())).toEqual([]);
    expect(cumulativeCount(3, 100)).toBe(3);
    expect(cumulativeCount(200, 5)).toBe(10);
  });
});

describe('checkWaves', () => {
  it.each([
    { desc: 'percentages that do not rise', waves: [10, 10, 100] },
    { desc: 'a last wave below 100', waves: [10, 50] },
    { desc: 'a falling percentage', waves: [50, 20, 100] },
  ])('refuses $desc with CAMPAIGN_WAVES_INVALID', ({ waves }) => {
    let error: unknown;
    try {
      checkWaves(waves.map(spec));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).code).toBe('CAMPAIGN_WAVES_INVALID');
  });

  it('accepts 1, 10, 50, 100', () => {
    expect(() => checkWaves([1, 10, 50, 100].map(spec))).not.toThrow();
  });
});

describe('assignmentSha256', () => {
  it('changes with any image of the release set', () => {
    const release = [{ hardwareId: 'gw', name: 'gw-2.img', sha256: 'a'.repeat(64), length: 9 }];
    expect(assignmentSha256(release)).toMatch(/^[0-9a-f]{64}$/);
    expect(assignmentSha256([{ ...release[0]!, sha256: 'b'.repeat(64) }])).not.toBe(
      assignmentSha256(release),
    );
  });
});
