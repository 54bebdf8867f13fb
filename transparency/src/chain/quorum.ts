import { TransparencyError } from '../error.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** What a quorum rule makes of the outcomes so far: an answer, a refusal, or "ask the rest". */
export type Verdict<R> =
  { done: true; value: R } | { done: true; error: TransparencyError } | { done: false };

/** Judges the outcomes that have arrived while `pending` endpoints have not answered yet. */
export type QuorumRule<T, R> = (outcomes: readonly Outcome<T>[], pending: number) => Verdict<R>;

const WAIT: Verdict<never> = { done: false };

/**
 * Asks every endpoint at once and settles as soon as `rule` decides: when a quorum agrees, or
 * when agreement has become impossible. The questions still running are then aborted through
 * their signal, so one slow or endless endpoint never holds up an answer the others already gave.
 */
export function askQuorum<E, T, R>(
  endpoints: readonly E[],
  ask: (endpoint: E, signal: AbortSignal) => Promise<T>,
  rule: QuorumRule<T, R>,
): Promise<R> {
  const controller = new AbortController();
  const outcomes: Outcome<T>[] = [];
  let pending = endpoints.length;
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    const judge = (): void => {
      if (settled) return;
      let verdict: Verdict<R>;
      try {
        verdict = rule(outcomes, pending);
      } catch (err) {
        verdict = { done: true, error: toTransparencyError(err) };
      }
      if (!verdict.done) return;
      settled = true;
      controller.abort();
      if ('error' in verdict) reject(verdict.error);
      else resolve(verdict.value);
    };
    for (const endpoint of endpoints) {
      let asked: Promise<T>;
      try {
        asked = ask(endpoint, controller.signal);
      } catch (err) {
        asked = Promise.reject(toTransparencyError(err));
      }
      asked.then(
        (value) => {
          pending--;
          outcomes.push({ ok: true, value });
          judge();
        },
        (error: unknown) => {
          pending--;
          outcomes.push({ ok: false, error });
          judge();
        },
      );
    }
    judge();
  });
}

function toTransparencyError(err: unknown): TransparencyError {
  return err instanceof TransparencyError
    ? err
    : new TransparencyError('RPC_UNAVAILABLE', String(err), { cause: err });
}

/** The refusal when fewer than `quorum` endpoints answered at all. */
function unavailable(
  outcomes: readonly Outcome<unknown>[],
  answered: number,
  quorum: number,
  what: string,
): TransparencyError {
  const errors = outcomes
    .filter((o): o is { ok: false; error: unknown } => !o.ok)
    .map((o) => o.error);
  const codes = new Set(
    errors.map((e) => (e instanceof TransparencyError ? e.code : 'RPC_UNAVAILABLE')),
  );
  const only = codes.size === 1 ? [...codes][0] : undefined;
  return new TransparencyError(
    only === 'CHAIN_ID_MISMATCH' ? 'CHAIN_ID_MISMATCH' : 'RPC_UNAVAILABLE',
    `${what}: only ${answered} of ${outcomes.length} RPC endpoints answered, quorum is ${quorum}`,
    { cause: errors[0] },
  );
}

/**
 * The agreement rule: done with the largest group of at least `quorum` equal answers (equal when
 * `keyOf` is equal). While endpoints are pending, a group counts only once `ready(group)` holds
 * (default: always). It refuses as soon as no group can reach `quorum` any more: with fewer than
 * `quorum` answers possible, RPC_UNAVAILABLE (CHAIN_ID_MISMATCH when that is every error);
 * otherwise QUORUM_DISAGREES. With nothing pending this is exactly `agree`.
 */
export function decideAgreement<T>(
  outcomes: readonly Outcome<T>[],
  pending: number,
  quorum: number,
  keyOf: (v: T) => string,
  what: string,
  ready: (group: readonly T[]) => boolean = () => true,
): Verdict<T[]> {
  const answers = outcomes.filter((o): o is { ok: true; value: T } => o.ok).map((o) => o.value);
  const groups = new Map<string, T[]>();
  for (const a of answers) {
    const k = keyOf(a);
    const g = groups.get(k);
    if (g) g.push(a);
    else groups.set(k, [a]);
  }
  const bySize = [...groups.values()].sort((a, b) => b.length - a.length);
  const winner = bySize.find((g) => g.length >= quorum && (pending === 0 || ready(g)));
  if (winner) return { done: true, value: winner };
  const largest = bySize[0]?.length ?? 0;
  if (largest + pending >= quorum) return WAIT;
  if (answers.length + pending < quorum) {
    return { done: true, error: unavailable(outcomes, answers.length, quorum, what) };
  }
  return {
    done: true,
    error: new TransparencyError(
      'QUORUM_DISAGREES',
      `${what}: RPC endpoints disagree (largest agreeing group ${largest}, quorum ${quorum})`,
    ),
  };
}

/**
 * Picks the answer that at least `quorum` endpoints gave, once every endpoint has answered or
 * failed. Fewer than `quorum` answers at all -> RPC_UNAVAILABLE; no agreeing group ->
 * QUORUM_DISAGREES.
 */
export function agree<T>(
  outcomes: readonly Outcome<T>[],
  quorum: number,
  keyOf: (v: T) => string,
  what: string,
): T[] {
  const verdict = decideAgreement(outcomes, 0, quorum, keyOf, what);
  if (!verdict.done) throw new TransparencyError('RPC_UNAVAILABLE', `${what}: undecided`);
  if ('error' in verdict) throw verdict.error;
  return verdict.value;
}

/** The largest value that at least `quorum` of `values` reach. */
export function quorumFloor(values: readonly number[], quorum: number): number {
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[Math.min(quorum, sorted.length) - 1] ?? -1;
}

/**
 * The highest head H such that `quorum` of `heads` lie in [H, H + spread], if any. At least
 * `quorum` endpoints reach H, so at most quorum - 1 colluders cannot raise it above an honest
 * head; and it never exceeds `quorumFloor(heads, quorum)`. A minority that reports a head far
 * below the others is left out of the window instead of dragging the head down.
 */
export function headWindowFloor(
  heads: readonly number[],
  quorum: number,
  spread: number,
): number | undefined {
  const sorted = [...heads].sort((a, b) => b - a);
  for (let i = 0; i + quorum - 1 < sorted.length; i++) {
    const low = sorted[i + quorum - 1]!;
    if (sorted[i]! - low <= spread) return low;
  }
  return undefined;
}

/**
 * The head rule: as soon as `quorum` heads lie within `spread` blocks of each other, the lowest
 * of them; once every endpoint has answered, the largest head that `quorum` endpoints reach.
 * Refuses when fewer than `quorum` endpoints can still answer.
 */
export function decideHead(
  outcomes: readonly Outcome<number>[],
  pending: number,
  quorum: number,
  spread: number,
  what: string,
): Verdict<number> {
  const heads = outcomes.filter((o): o is { ok: true; value: number } => o.ok).map((o) => o.value);
  if (heads.length + pending < quorum) {
    return { done: true, error: unavailable(outcomes, heads.length, quorum, what) };
  }
  const early = headWindowFloor(heads, quorum, spread);
  if (early !== undefined) return { done: true, value: early };
  if (pending === 0) return { done: true, value: quorumFloor(heads, quorum) };
  return WAIT;
}
