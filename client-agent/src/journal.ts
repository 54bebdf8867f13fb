import { join } from 'node:path';
import { installPathSchema } from '@tufchain/transparency/wire';
import { z } from 'zod';
import { AgentError } from './error.js';
import { readJsonIfExists, writeJsonDurable } from './util/durable.js';

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));

const journalTarget = z.object({
  name: z.string(),
  version: z.string(),
  releaseCounter: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
  sha256: hex(64),
  sha512: hex(128),
  url: z.string(),
});

const installing = z.object({
  phase: z.enum(['INSTALLING', 'PENDING_BOOT']),
  /** Random id of this install attempt; makes its report idempotent across crashes. */
  installId: z.string().regex(/^[0-9a-f]{16,64}$/),
  slot: z.enum(['a', 'b']),
  /** Set once the slot was opened (and truncated) for this install: its bytes may be resumed. */
  slotOpened: z.boolean().optional(),
  target: journalTarget,
  from: z
    .object({
      name: z.string(),
      version: z.string(),
      releaseCounter: z.number(),
      digest: z.string(),
    })
    .nullable(),
  startedAt: z.string(),
  metadata: z.object({ targetsVersion: z.number(), targetsHash: z.string() }),
  checkpoint: z.object({
    chainId: z.number(),
    blockNumber: z.number(),
    blockHash: z.string(),
    timestamp: z.number(),
  }),
  /** PENDING_BOOT: how the slot was written, for the signed report (report/attestation.ts). */
  install: installPathSchema.optional(),
});

const journalSchema = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('IDLE') }),
  installing.extend({ phase: z.literal('INSTALLING') }),
  installing.extend({ phase: z.literal('PENDING_BOOT') }),
]);

export type Journal = z.infer<typeof journalSchema>;
export type InstallJournal = Exclude<Journal, { phase: 'IDLE' }>;
export type JournalTarget = z.infer<typeof journalTarget>;

/**
 * The install state machine's journal: IDLE -> INSTALLING (slot being written) -> PENDING_BOOT
 * (slot verified and marked for the next boot) -> IDLE (committed or rolled back, report queued).
 * Every transition is written durably (temp + fsync + rename + fsync dir) before it takes effect.
 */
export class InstallJournalStore {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'journal.json');
  }

  async read(): Promise<Journal> {
    let raw: unknown;
    try {
      raw = await readJsonIfExists(this.path);
    } catch (err) {
      throw new AgentError('STATE_CORRUPT', 'install journal is unreadable', { cause: err });
    }
    if (raw === undefined) return { phase: 'IDLE' };
    const parsed = journalSchema.safeParse(raw);
    if (!parsed.success) {
      throw new AgentError('STATE_CORRUPT', 'install journal is malformed', {
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  async write(journal: Journal): Promise<void> {
    await writeJsonDurable(this.path, journal);
  }
}
