import { TransparencyError } from '../error.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export async function askAll<E, T>(
  endpoints: readonly E[],
  ask: (endpoint: E) => Promise<T>,
): Promise<Outcome<T>[]> {
  const settled = await Promise.allSettled(endpoints.map((e) => ask(e)));
  return settled.map((s): Outcome<T> =>
    s.status === 'fulfilled'
      ? { ok: true, value: s.value }
      : { ok: false, error: s.reason as unknown },
  );
}

/**
 * Picks the answer that at least `quorum` endpoints gave (answers are equal when `keyOf` is equal).
 * Fewer than `quorum` answers at all -> RPC_UNAVAILABLE; enough answers but no agreeing group -> QUORUM_DISAGREES.
 */
export function agree<T>(
  outcomes: readonly Outcome<T>[],
  quorum: number,
  keyOf: (v: T) => string,
  what: string,
): T[] {
  const answers = outcomes.filter((o): o is { ok: true; value: T } => o.ok).map((o) => o.value);
  if (answers.length < quorum) {
    const errors = outcomes
      .filter((o): o is { ok: false; error: unknown } => !o.ok)
      .map((o) => o.error);
    const codes = new Set(
      errors.map((e) => (e instanceof TransparencyError ? e.code : 'RPC_UNAVAILABLE')),
    );
    const only = codes.size === 1 ? [...codes][0] : undefined;
    throw new TransparencyError(
      only === 'CHAIN_ID_MISMATCH' ? 'CHAIN_ID_MISMATCH' : 'RPC_UNAVAILABLE',
      `${what}: only ${answers.length} of ${outcomes.length} RPC endpoints answered, quorum is ${quorum}`,
      { cause: errors[0] },
    );
  }
  const groups = new Map<string, T[]>();
  for (const a of answers) {
    const k = keyOf(a);
    const g = groups.get(k);
    if (g) g.push(a);
    else groups.set(k, [a]);
  }
  const best = [...groups.values()].sort((a, b) => b.length - a.length)[0]!;
  if (best.length < quorum) {
    throw new TransparencyError(
      'QUORUM_DISAGREES',
      `${what}: RPC endpoints disagree (largest agreeing group ${best.length}, quorum ${quorum})`,
    );
  }
  return best;
}

/** The largest value that at least `quorum` of `values` reach. */
export function quorumFloor(values: readonly number[], quorum: number): number {
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[Math.min(quorum, sorted.length) - 1] ?? -1;
}
