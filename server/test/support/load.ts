/**
 * A small, bounded fleet on loopback for fault tests: each vehicle polls timestamp.json with
 * jitter and now and then sends a signed install report, through its preferred replica, failing
 * over to the next one when a replica does not answer (as behind a load balancer). A report is
 * resent, the same bytes, until a replica acknowledges it (2xx), as the agent's outbox does.
 *
 * Deliberately minimal: a full fleet simulator can replace it behind the same `startLoad`.
 */

/** One vehicle of the load: signs its `counter`-th install report. */
export interface LoadVehicle {
  name: string;
  signReport(counter: number): Promise<object>;
}

export interface LoadOptions {
  /** Base URLs of the replicas; vehicle i prefers replica i mod n. */
  replicas: readonly string[];
  vehicles: readonly LoadVehicle[];
  /** Mean time between two polls of one vehicle; each wait is drawn from [0.5, 1.5] of it. */
  pollIntervalMs: number;
  /** A vehicle reports an install every this many polls. */
  reportEvery: number;
  /** A request that takes longer than this counts as unanswered. */
  requestTimeoutMs: number;
}

/** A request no replica answered with a 2xx: when, what, and how each replica answered. */
export interface LoadFailure {
  /** When the first replica was asked, and when the last one failed. */
  startedAt: number;
  at: number;
  kind: 'poll' | 'report';
  vehicle: string;
  /** Per replica tried: the HTTP status with its error code, or the network error's code. */
  answers: string[];
}

/** A report a replica acknowledged, keyed by its DSSE signature (what the log holds). */
export interface AcknowledgedReport {
  at: number;
  vehicle: string;
  counter: number;
  signature: string;
  status: number;
  replica: string;
}

export interface LoadLedger {
  polls: { ok: number; failed: number };
  acknowledged: AcknowledgedReport[];
  failures: LoadFailure[];
  /** Every status a replica answered with, counted (e.g. `200`, `503 NOT_READY`). */
  statuses: Map<string, number>;
}

export interface RunningLoad {
  ledger: LoadLedger;
  /**
   * Stops polling, lets each vehicle get its report in flight acknowledged (within `drainMs`),
   * and resolves with the ledger.
   */
  stop(drainMs?: number): Promise<LoadLedger>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function signatureOf(bundle: object): string {
  const b = bundle as { dsseEnvelope?: { signatures?: { sig?: string }[] } };
  const sig = b.dsseEnvelope?.signatures?.[0]?.sig;
  if (typeof sig !== 'string') throw new Error('a report bundle without a DSSE signature');
  return sig;
}

async function answerOf(res: Response): Promise<string> {
  if (res.ok) return String(res.status);
  const body = (await res.json().catch(() => undefined)) as
    { error?: { code?: string } } | undefined;
  return `${res.status.toString()} ${body?.error?.code ?? '?'}`;
}

function networkCode(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.name ?? 'NETWORK';
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const ledger: LoadLedger = {
    polls: { ok: 0, failed: 0 },
    acknowledged: [],
    failures: [],
    statuses: new Map(),
  };
  let polling = true;
  let draining = true;
  const count = (answer: string) =>
    ledger.statuses.set(answer, (ledger.statuses.get(answer) ?? 0) + 1);

  /** Tries each replica from the preferred one on; the first 2xx wins. */
  async function send(
    preferred: number,
    request: (base: string) => Promise<Response>,
  ): Promise<{ res: Response; replica: string } | { answers: string[] }> {
    const answers: string[] = [];
    for (let k = 0; k < opts.replicas.length; k++) {
      const replica = opts.replicas[(preferred + k) % opts.replicas.length]!;
      try {
        const res = await request(replica);
        if (res.ok) {
          count(String(res.status));
          return { res, replica };
        }
        const answer = await answerOf(res);
        count(answer);
        answers.push(answer);
        // A client error is the answer; only an unavailable replica sends the client on.
        if (res.status < 500) return { answers };
      } catch (error) {
        const answer = networkCode(error);
        count(answer);
        answers.push(answer);
      }
    }
    return { answers };
  }

  async function runVehicle(vehicle: LoadVehicle, index: number): Promise<void> {
    const preferred = index % opts.replicas.length;
    let counter = 0;
    let polls = 0;
    let outbox: { counter: number; bundle: object } | undefined;
    await sleep(Math.random() * opts.pollIntervalMs);
    while (polling || (draining && outbox)) {
      if (polling) {
        const startedAt = Date.now();
        const poll = await send(preferred, (base) =>
          fetch(`${base}/metadata/timestamp.json`, {
            signal: AbortSignal.timeout(opts.requestTimeoutMs),
          }),
        );
        if ('res' in poll) {
          await poll.res.arrayBuffer();
          ledger.polls.ok++;
        } else {
          ledger.polls.failed++;
          ledger.failures.push({
            startedAt,
            at: Date.now(),
            kind: 'poll',
            vehicle: vehicle.name,
            answers: poll.answers,
          });
        }
        polls++;
        if (!outbox && polls % opts.reportEvery === 0) {
          counter++;
          outbox = { counter, bundle: await vehicle.signReport(counter) };
        }
      }
      if (outbox) {
        const body = JSON.stringify(outbox.bundle);
        const startedAt = Date.now();
        const sent = await send(preferred, (base) =>
          fetch(`${base}/api/v1/attestations`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            signal: AbortSignal.timeout(opts.requestTimeoutMs),
          }),
        );
        if ('res' in sent) {
          await sent.res.arrayBuffer();
          ledger.acknowledged.push({
            at: Date.now(),
            vehicle: vehicle.name,
            counter: outbox.counter,
            signature: signatureOf(outbox.bundle),
            status: sent.res.status,
            replica: sent.replica,
          });
          outbox = undefined;
        } else {
          ledger.failures.push({
            startedAt,
            at: Date.now(),
            kind: 'report',
            vehicle: vehicle.name,
            answers: sent.answers,
          });
          // A refused report (4xx) is not resent: it would be refused again.
          if (sent.answers.some((a) => /^4/.test(a))) outbox = undefined;
        }
      }
      await sleep(opts.pollIntervalMs * (0.5 + Math.random()));
    }
  }

  const vehicles = Promise.all(opts.vehicles.map((v, i) => runVehicle(v, i)));
  return {
    ledger,
    async stop(drainMs = 10_000) {
      polling = false;
      const timer = setTimeout(() => (draining = false), drainMs);
      await vehicles;
      clearTimeout(timer);
      return ledger;
    },
  };
}
