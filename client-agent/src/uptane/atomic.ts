import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import type { SignedEcuInstallResult } from '@tufchain/transparency/wire';
import { AgentError } from '../error.js';
import type { ImageSink, ImageSource } from '../install/image-io.js';
import { streamImage } from '../install/stream.js';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';
import { sleep } from '../util/retry.js';
import { FanoutSink, type EcuEndpoint, type EcuTarget, type ResultContext } from './ecu.js';
import type { EcuSlots } from './ecu-slots.js';

/** The primary's own ECU as an endpoint of the set. */
export class LocalEcu implements EcuEndpoint {
  readonly serial: string;
  readonly hardwareId: string;
  readonly ecu: EcuSlots;
  #target: EcuTarget | undefined;

  constructor(ecu: EcuSlots, hardwareId: string) {
    this.ecu = ecu;
    this.serial = ecu.serial;
    this.hardwareId = hardwareId;
  }

  openSink(target: EcuTarget): Promise<ImageSink> {
    this.#target = target;
    return this.ecu.openSink(target);
  }

  switchTo(): Promise<boolean> {
    if (!this.#target) throw new AgentError('ECU_NOT_PREPARED', 'nothing prepared');
    return this.ecu.switchTo(this.#target);
  }

  commit(ctx: ResultContext): Promise<SignedEcuInstallResult> {
    return this.ecu.commit(ctx);
  }

  rollback(ctx: ResultContext): Promise<SignedEcuInstallResult> {
    return this.ecu.rollback(ctx);
  }

  close(): void {}
}

const target = z.object({
  name: z.string(),
  version: z.string(),
  length: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sha512: z.string().regex(/^[0-9a-f]{128}$/),
  releaseCounter: z.number().int().nonnegative(),
});
const journalSchema = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('IDLE') }),
  z.object({
    phase: z.enum(['PREPARE', 'SWITCH', 'COMMIT', 'ROLLBACK']),
    id: z.string(),
    correlationId: z.string().nullable(),
    /** Why the set rolls back (the first ECU's refusal or failed health check). */
    code: z.string().optional(),
    /** What the caller needs to report the outcome after a crash (AtomicOptions.reportContext). */
    reportContext: z.unknown().optional(),
    ecus: z.array(z.object({ serial: z.string(), target, prepared: z.boolean() })),
  }),
]);
export type AtomicJournal = z.infer<typeof journalSchema>;
export type ActiveAtomicJournal = Exclude<AtomicJournal, { phase: 'IDLE' }>;

/**
 * The primary's journal of an atomic set (UPTANE.md, "Atomic multi-ECU install"): PREPARE ->
 * SWITCH -> COMMIT | ROLLBACK -> IDLE, each written durably (temp, fsync, rename, fsync dir)
 * before the step it announces. After a crash it alone decides what every ECU does.
 */
export class AtomicJournalStore {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'atomic-journal.json');
  }

  async read(): Promise<AtomicJournal> {
    let raw: unknown;
    try {
      raw = await readJsonIfExists(this.path);
    } catch (err) {
      throw new AgentError('STATE_CORRUPT', 'atomic journal is unreadable', { cause: err });
    }
    if (raw === undefined) return { phase: 'IDLE' };
    const parsed = journalSchema.safeParse(raw);
    if (!parsed.success) throw new AgentError('STATE_CORRUPT', 'atomic journal is malformed');
    return parsed.data;
  }

  write(j: AtomicJournal): Promise<void> {
    return writeJsonDurable(this.path, j);
  }
}

export interface AtomicMember {
  endpoint: EcuEndpoint;
  target: EcuTarget;
}

export interface EcuOutcome {
  serial: string;
  target: EcuTarget;
  outcome: 'COMMITTED' | 'ROLLED_BACK';
  /** Why it rolled back: its own refusal, a failed health check, or another ECU's. */
  code: string;
  /** The ECU's signed result (verified against its pinned key for a secondary). */
  result?: SignedEcuInstallResult;
  /** A signed result was expected and did not verify: the outcome is not reported as success. */
  resultError?: string;
}

export interface AtomicRun {
  /** The set's id (its journal's). */
  id: string;
  /** AtomicOptions.reportContext of the run that began the set. */
  reportContext?: unknown;
  outcome: 'COMMITTED' | 'ROLLED_BACK';
  code: string;
  ecus: EcuOutcome[];
}

export interface AtomicOptions {
  journal: AtomicJournalStore;
  correlationId: string | null;
  /** Where image `name`'s bytes come from (the HTTP range fetch in the vehicle). */
  source: (target: EcuTarget) => ImageSource;
  now: () => Date;
  /** How long to keep asking an unreachable ECU to commit or roll back (default 10 s). */
  settleDeadlineMs?: number;
  onProgress?: (received: number, total: number) => void;
  /** Images streamed to their ECUs at the same time (default 1; a primary with cores to spare). */
  streams?: number;
  /** Kept in the journal for onSettled (after a crash too). */
  reportContext?: unknown;
  /**
   * Runs once every ECU carried out the decision, before the journal is cleared: what it queues
   * (the install reports) is not lost to a crash; after one, recovery calls it again.
   */
  onSettled?: (run: AtomicRun) => Promise<void>;
}

/**
 * Installs the set atomically: every ECU's inactive slot written and verified (each image
 * downloaded once, streamed to every ECU assigned it), then all switched and health-checked, then
 * all committed, or all rolled back if any ECU refused, failed or could not be reached.
 */
export async function installAtomicSet(
  members: readonly AtomicMember[],
  opts: AtomicOptions,
): Promise<AtomicRun> {
  let j: ActiveAtomicJournal = {
    phase: 'PREPARE',
    id: randomBytes(12).toString('hex'),
    correlationId: opts.correlationId,
    ...(opts.reportContext !== undefined ? { reportContext: opts.reportContext } : {}),
    ecus: members.map((m) => ({ serial: m.endpoint.serial, target: m.target, prepared: false })),
  };
  await opts.journal.write(j);
  const bySerial = new Map(members.map((m) => [m.endpoint.serial, m]));

  // 1. Prepare: one download per image, to every ECU that is assigned it.
  const images = new Map<string, AtomicMember[]>();
  for (const m of members) {
    const group = images.get(m.target.sha256) ?? [];
    group.push(m);
    images.set(m.target.sha256, group);
  }
  // `streams` images at a time (each to every ECU assigned it); the journal records each group as
  // it is verified.
  let failure: { code: string; serial?: string } | undefined;
  let journalWrites = Promise.resolve();
  const total = members.reduce((n, m) => n + m.target.length, 0);
  const received = new Map<string, number>();
  const outcomes = await mapLimited(
    [...images.entries()],
    opts.streams ?? DEFAULT_STREAMS,
    async ([sha256, group]) => {
      const sinks: ImageSink[] = [];
      try {
        for (const m of group) sinks.push(await m.endpoint.openSink(m.target));
        const sink = sinks.length === 1 ? (sinks[0] as ImageSink) : new FanoutSink(sinks);
        const t = (group[0] as AtomicMember).target;
        const onProgress = opts.onProgress;
        await streamImage({
          source: opts.source(t),
          sink,
          expected: { length: t.length, sha256: t.sha256, sha512: t.sha512 },
          ...(onProgress
            ? {
                onProgress: (n: number) => {
                  received.set(sha256, n * group.length);
                  onProgress(
                    [...received.values()].reduce((a, b) => a + b, 0),
                    total,
                  );
                },
              }
            : {}),
        });
        const serials = new Set(group.map((m) => m.endpoint.serial));
        journalWrites = journalWrites.then(() => {
          j = {
            ...j,
            ecus: j.ecus.map((e) => (serials.has(e.serial) ? { ...e, prepared: true } : e)),
          };
          return opts.journal.write(j);
        });
        await journalWrites;
        return undefined;
      } catch (err) {
        return {
          code: codeOf(err),
          serial: (group[sinks.length] ?? group[0])?.endpoint.serial ?? '',
        };
      } finally {
        await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
      }
    },
  );
  failure = outcomes.find((o) => o !== undefined);

  // 2. Switch: every ECU boots its new slot pending and checks its health.
  if (!failure) {
    j = { ...j, phase: 'SWITCH' };
    await opts.journal.write(j);
    const health = await Promise.all(
      members.map((m) =>
        m.endpoint.switchTo().then(
          (healthy) => (healthy ? undefined : 'HEALTH_CHECK_FAILED'),
          (err: unknown) => codeOf(err),
        ),
      ),
    );
    const bad = health.findIndex((h) => h !== undefined);
    if (bad >= 0)
      failure = { code: health[bad] as string, serial: members[bad]?.endpoint.serial as string };
  }

  // 3. Commit all, or roll all back.
  j = failure ? { ...j, phase: 'ROLLBACK', code: failure.code } : { ...j, phase: 'COMMIT' };
  await opts.journal.write(j);
  const settled = await settleDecision(j, bySerial, opts, failure?.serial);
  await opts.onSettled?.(settled);
  await opts.journal.write({ phase: 'IDLE' });
  return settled;
}

/**
 * Carries out the journal's decision. A COMMIT that one ECU definitively refuses (it can no
 * longer commit: its pending slot is gone) turns, durably, into a ROLLBACK of the whole set
 * (ATOMIC_COMMIT_REFUSED): the ECUs that committed already go back to their previous slot, which
 * still holds the previous set's verified image (UPTANE.md, "Atomic multi-ECU install").
 */
async function settleDecision(
  j: ActiveAtomicJournal,
  bySerial: ReadonlyMap<string, AtomicMember>,
  opts: Pick<AtomicOptions, 'journal' | 'now' | 'settleDeadlineMs'>,
  culprit?: string,
): Promise<AtomicRun> {
  const about = {
    id: j.id,
    ...(j.reportContext !== undefined ? { reportContext: j.reportContext } : {}),
  };
  if (j.phase === 'COMMIT') {
    const tried = await Promise.allSettled(settle(j, bySerial, opts));
    const refused = tried.findIndex(
      (t) => t.status === 'rejected' && codeOf(t.reason) !== 'ECU_UNREACHABLE',
    );
    if (refused < 0) {
      const unreachable = tried.find((t) => t.status === 'rejected');
      if (unreachable) throw unreachable.reason;
      return {
        ...about,
        outcome: 'COMMITTED',
        code: '',
        ecus: tried.map((t) => (t as PromiseFulfilledResult<EcuOutcome>).value),
      };
    }
    j = { ...j, phase: 'ROLLBACK', code: 'ATOMIC_COMMIT_REFUSED' };
    await opts.journal.write(j);
    culprit = j.ecus[refused]?.serial;
  }
  return {
    ...about,
    outcome: 'ROLLED_BACK',
    code: j.code ?? '',
    ecus: await Promise.all(settle(j, bySerial, opts, culprit)),
  };
}

/**
 * Images streamed at once by default (see AtomicOptions.streams). On the bench's two cores one at
 * a time is as fast as two or four (the primary, the image server and the secondary already keep
 * both busy) and costs the primary half the CPU time and less memory (bench:agent, README).
 */
const DEFAULT_STREAMS = 1;

/** `fn` over `items`, at most `limit` at a time, answers in the items' order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'ECU_PROTOCOL_ERROR';
}

/** Asks every ECU to COMMIT or ROLLBACK (one promise each), retrying one that is unreachable. */
function settle(
  j: ActiveAtomicJournal,
  bySerial: ReadonlyMap<string, AtomicMember>,
  opts: Pick<AtomicOptions, 'now' | 'settleDeadlineMs'>,
  culprit?: string,
): Promise<EcuOutcome>[] {
  const commit = j.phase === 'COMMIT';
  const deadline = Date.now() + (opts.settleDeadlineMs ?? 10_000);
  return j.ecus.map(async (e) => {
    const m = bySerial.get(e.serial);
    if (!m) throw new AgentError('ECU_UNKNOWN', `journal names ECU ${e.serial}, not configured`);
    const code = commit ? '' : e.serial === culprit ? (j.code ?? '') : 'ATOMIC_SET_ROLLED_BACK';
    const ctx: ResultContext = {
      set: j.id,
      correlationId: j.correlationId,
      target: e.target,
      code,
      time: opts.now().toISOString(),
    };
    for (let attempt = 0; ; attempt++) {
      try {
        const result = commit ? await m.endpoint.commit(ctx) : await m.endpoint.rollback(ctx);
        return {
          serial: e.serial,
          target: e.target,
          outcome: commit ? 'COMMITTED' : 'ROLLED_BACK',
          code,
          ...(result ? { result } : {}),
        } satisfies EcuOutcome;
      } catch (err) {
        const c = codeOf(err);
        if (c === 'ECU_RESULT_UNSIGNED' || c === 'ECU_RESULT_SIGNATURE_INVALID') {
          return {
            serial: e.serial,
            target: e.target,
            outcome: commit ? 'COMMITTED' : 'ROLLED_BACK',
            code,
            resultError: c,
          } satisfies EcuOutcome;
        }
        if (c !== 'ECU_UNREACHABLE' || Date.now() > deadline) throw err;
        await sleep(Math.min(50 * 2 ** attempt, 500));
      }
    }
  });
}

/**
 * Completes what a killed primary left (UPTANE.md, "Recovery"): before SWITCH, nothing switched
 * and every ECU drops what it prepared; SWITCH without COMMIT, every ECU rolls back; COMMIT,
 * every ECU commits. Throws (the journal kept) while an ECU cannot be reached.
 */
export async function recoverAtomicSet(
  endpoints: readonly EcuEndpoint[],
  opts: Pick<AtomicOptions, 'journal' | 'now' | 'settleDeadlineMs' | 'onSettled'>,
): Promise<AtomicRun | undefined> {
  const j = await opts.journal.read();
  if (j.phase === 'IDLE') return undefined;
  const decided: ActiveAtomicJournal =
    j.phase === 'COMMIT' ? j : { ...j, phase: 'ROLLBACK', code: j.code ?? 'INTERRUPTED' };
  if (decided.phase !== j.phase) await opts.journal.write(decided);
  const bySerial = new Map(
    endpoints.flatMap((endpoint) => {
      const e = decided.ecus.find((x) => x.serial === endpoint.serial);
      return e ? [[endpoint.serial, { endpoint, target: e.target }] as const] : [];
    }),
  );
  const settled = await settleDecision(decided, bySerial, opts);
  await opts.onSettled?.(settled);
  await opts.journal.write({ phase: 'IDLE' });
  return settled;
}
