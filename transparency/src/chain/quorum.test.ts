import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import { agree, quorumFloor, type Outcome } from './quorum.js';

const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
const down: Outcome<never> = { ok: false, error: new Error('ECONNREFUSED') };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

describe('agree', () => {
  const table: { desc: string; outcomes: Outcome<string>[]; quorum: number; want: string }[] = [
    { desc: '3 of 3 agree', outcomes: [ok('a'), ok('a'), ok('a')], quorum: 2, want: 'a' },
    { desc: '1 of 3 lies', outcomes: [ok('a'), ok('x'), ok('a')], quorum: 2, want: 'a' },
    { desc: '1 of 3 is down', outcomes: [ok('a'), down, ok('a')], quorum: 2, want: 'a' },
    {
      desc: '2 of 3 lie differently',
      outcomes: [ok('a'), ok('x'), ok('y')],
      quorum: 2,
      want: 'QUORUM_DISAGREES',
    },
    {
      desc: '2 of 3 are down',
      outcomes: [ok('a'), down, down],
      quorum: 2,
      want: 'RPC_UNAVAILABLE',
    },
    {
      desc: 'a split 2-2 under quorum 3',
      outcomes: [ok('a'), ok('a'), ok('b'), ok('b')],
      quorum: 3,
      want: 'QUORUM_DISAGREES',
    },
  ];
  for (const { desc, outcomes, quorum, want } of table) {
    it(`${want.startsWith('a') ? 'returns the agreed answer' : `throws ${want}`} when ${desc}`, () => {
      const run = () => agree(outcomes, quorum, (v) => v, 'test')[0];
      if (want === 'a') expect(run()).toBe('a');
      else expect(codeOf(run)).toBe(want);
    });
  }

  it('never returns an answer given by fewer than quorum endpoints', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }), {
          minLength: 1,
          maxLength: 7,
        }),
        fc.integer({ min: 1, max: 7 }),
        (answers, q) => {
          const outcomes = answers.map((a) => (a === undefined ? down : ok(a)));
          let group: string[];
          try {
            group = agree(outcomes, q, (v) => v, 'test');
          } catch {
            return;
          }
          expect(group.length).toBeGreaterThanOrEqual(q);
          expect(answers.filter((a) => a === group[0]).length).toBeGreaterThanOrEqual(q);
        },
      ),
    );
  });
});

describe('quorumFloor', () => {
  it('is the largest value that at least quorum endpoints reach', () => {
    expect(quorumFloor([10, 12, 11], 2)).toBe(11);
    expect(quorumFloor([1_000_000, 12, 11], 2)).toBe(12);
    expect(quorumFloor([10, 12, 11], 3)).toBe(10);
  });
});
