import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import {
  agree,
  askQuorum,
  decideAgreement,
  decideHead,
  headWindowFloor,
  quorumFloor,
  type Outcome,
  type Verdict,
} from './quorum.js';

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

const verdictOf = <T>(v: Verdict<T>): string =>
  !v.done ? 'WAIT' : 'error' in v ? v.error.code : 'VALUE';

describe('decideAgreement while endpoints are still pending', () => {
  const table: {
    desc: string;
    outcomes: Outcome<string>[];
    pending: number;
    quorum: number;
    want: string;
  }[] = [
    { desc: '2 agree, 1 pending', outcomes: [ok('a'), ok('a')], pending: 1, quorum: 2, want: 'a' },
    {
      desc: '2 differ, 1 pending',
      outcomes: [ok('a'), ok('b')],
      pending: 1,
      quorum: 2,
      want: 'WAIT',
    },
    { desc: '1 answer, 2 pending', outcomes: [ok('a')], pending: 2, quorum: 2, want: 'WAIT' },
    {
      desc: '2 down, 1 pending, quorum 2',
      outcomes: [down, down],
      pending: 1,
      quorum: 2,
      want: 'RPC_UNAVAILABLE',
    },
    {
      desc: '3 differ, 1 pending, quorum 3',
      outcomes: [ok('a'), ok('b'), ok('c')],
      pending: 1,
      quorum: 3,
      want: 'QUORUM_DISAGREES',
    },
    {
      desc: '1 answer and 1 down, 1 pending, quorum 3',
      outcomes: [ok('a'), down],
      pending: 1,
      quorum: 3,
      want: 'RPC_UNAVAILABLE',
    },
  ];
  for (const { desc, outcomes, pending, quorum, want } of table) {
    it(`${want === 'a' ? 'decides on the agreed answer' : want === 'WAIT' ? 'waits' : `refuses with ${want}`} when ${desc}`, () => {
      const v = decideAgreement(outcomes, pending, quorum, (x) => x, 'test');
      if (want === 'a') expect(v).toEqual({ done: true, value: ['a', 'a'] });
      else expect(verdictOf(v)).toBe(want);
    });
  }

  it('waits for a group that is not ready yet, and takes it once nothing is pending', () => {
    const notReady = () => false;
    expect(verdictOf(decideAgreement([ok('a'), ok('a')], 1, 2, (x) => x, 't', notReady))).toBe(
      'WAIT',
    );
    expect(
      verdictOf(decideAgreement([ok('a'), ok('a'), ok('b')], 0, 2, (x) => x, 't', notReady)),
    ).toBe('VALUE');
  });

  const answer = fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined });
  const scenario = fc
    .tuple(fc.array(answer, { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 7 }))
    .filter(([answers, q]) => q <= answers.length);

  it('decides early only what waiting for every endpoint would also decide', () => {
    fc.assert(
      fc.property(scenario, ([answers, q]) => {
        const outcomes = answers.map((a) => (a === undefined ? down : ok(a)));
        const full = decideAgreement(outcomes, 0, q, (x) => x, 'test');
        expect(full.done).toBe(true);
        // answers arrive in array order; fast-check generates the orders
        for (let k = 0; k <= outcomes.length; k++) {
          const early = decideAgreement(
            outcomes.slice(0, k),
            outcomes.length - k,
            q,
            (x) => x,
            't',
          );
          if (!early.done) continue;
          if ('error' in early) {
            expect('error' in full).toBe(true);
          } else {
            expect('value' in full).toBe(true);
            expect(early.value.length).toBeGreaterThanOrEqual(q);
            expect(new Set(early.value).size).toBe(1);
            // a majority quorum has one possible answer only
            if (2 * q > answers.length && 'value' in full)
              expect(early.value[0]).toBe(full.value[0]);
          }
        }
      }),
    );
  });

  it('is exactly agree once nothing is pending', () => {
    fc.assert(
      fc.property(scenario, ([answers, q]) => {
        const outcomes = answers.map((a) => (a === undefined ? down : ok(a)));
        const v = decideAgreement(outcomes, 0, q, (x) => x, 'test');
        let viaAgree: string;
        try {
          viaAgree = agree(outcomes, q, (x) => x, 'test')[0]!;
        } catch (err) {
          viaAgree = (err as TransparencyError).code;
        }
        expect('value' in v ? v.value[0] : 'error' in v ? v.error.code : 'WAIT').toBe(viaAgree);
      }),
    );
  });
});

describe('decideHead', () => {
  it('takes the lowest of quorum heads within the spread as soon as they arrive', () => {
    expect(decideHead([ok(100), ok(101)], 1, 2, 2, 'h')).toEqual({ done: true, value: 100 });
    expect(verdictOf(decideHead([ok(100), ok(1)], 1, 2, 2, 'h'))).toBe('WAIT');
    expect(decideHead([ok(100), ok(1), ok(101)], 0, 2, 2, 'h')).toEqual({
      done: true,
      value: 100,
    });
    expect(decideHead([ok(100), ok(1)], 0, 2, 2, 'h')).toEqual({ done: true, value: 1 });
    expect(verdictOf(decideHead([down, down], 1, 2, 2, 'h'))).toBe('RPC_UNAVAILABLE');
  });

  const heads = fc.record({
    honest: fc.array(fc.integer({ min: 1_000, max: 1_003 }), { minLength: 1, maxLength: 5 }),
    liars: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { maxLength: 4 }),
    spread: fc.integer({ min: 0, max: 3 }),
    order: fc.array(fc.nat(), { maxLength: 9 }),
  });

  it('never decides a head above every honest head while liars are fewer than quorum', () => {
    fc.assert(
      fc.property(heads, fc.integer({ min: 1, max: 9 }), ({ honest, liars, spread, order }, q) => {
        fc.pre(liars.length < q && q <= honest.length + liars.length);
        const all = [
          ...honest.map((h) => ({ h, liar: false })),
          ...liars.map((h) => ({ h, liar: true })),
        ];
        // arrival order: a permutation driven by `order`
        const arrived = [...all].sort(
          (x, y) => (order[all.indexOf(x)] ?? 0) - (order[all.indexOf(y)] ?? 0),
        );
        for (let k = 0; k <= arrived.length; k++) {
          const v = decideHead(
            arrived.slice(0, k).map((a) => ok(a.h)),
            arrived.length - k,
            q,
            spread,
            'h',
          );
          if (v.done && 'value' in v) {
            expect(v.value).toBeLessThanOrEqual(Math.max(...honest));
            expect(v.value).toBeLessThanOrEqual(
              quorumFloor(
                arrived.slice(0, k).map((a) => a.h),
                q,
              ),
            );
          }
        }
      }),
    );
  });

  it('keeps a head far below the rest out of the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 1_000 }), fc.integer({ min: 0, max: 2 }), (h, d) => {
        expect(headWindowFloor([h, 0, h + d], 2, 2)).toBe(h);
      }),
    );
  });
});

describe('askQuorum', () => {
  it('settles once the quorum agrees and aborts the endpoint that never answers', async () => {
    let hangingAborted = false;
    const endpoints = ['fast-1', 'hanging', 'fast-2'];
    const value = await askQuorum(
      endpoints,
      (ep, signal) =>
        ep === 'hanging'
          ? new Promise<string>((_resolve, reject) => {
              signal.addEventListener('abort', () => {
                hangingAborted = true;
                reject(new Error('aborted'));
              });
            })
          : Promise.resolve('answer'),
      (outcomes, pending) => decideAgreement(outcomes, pending, 2, (x) => x, 'test'),
    );
    expect(value).toEqual(['answer', 'answer']);
    expect(hangingAborted).toBe(true);
  });

  it('refuses as soon as agreement is impossible, without waiting for the last endpoint', async () => {
    const refused = askQuorum(
      ['a', 'b', 'hanging', 'd'],
      (ep, signal) =>
        ep === 'hanging'
          ? new Promise<string>((_r, reject) =>
              signal.addEventListener('abort', () => reject(new Error('aborted'))),
            )
          : Promise.resolve(ep),
      (outcomes, pending) => decideAgreement(outcomes, pending, 3, (x) => x, 'test'),
    );
    await expect(refused).rejects.toMatchObject({ code: 'QUORUM_DISAGREES' });
  });
});
