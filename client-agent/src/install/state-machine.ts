import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { AgentError, type AgentErrorCode } from '../error.js';
import type { InstallJournal, InstallJournalStore } from '../journal.js';
import type { SlotImage, SlotName, SlotStore } from '../slots/slot-store.js';
import type { WorkerSlotReadback } from './slot-readback.js';
import { installIntoSlot, type DeltaPlan, type SlotInstallResult } from './delta-install.js';

export type InstallOutcome = 'COMMITTED' | 'ROLLED_BACK';

/**
 * The crash-safe install state machine, free of TUF, chain and key handling so that it can be
 * driven (and killed) on its own. Journal phases: IDLE -> INSTALLING -> PENDING_BOOT -> IDLE.
 */
export interface InstallMachine {
  slots: SlotStore;
  journal: InstallJournalStore;
  healthCheck?: ((slot: SlotName, image: SlotImage) => Promise<boolean>) | undefined;
  /** Signs and durably queues the install report. Must be idempotent per `j.installId`. */
  report: (j: InstallJournal, result: 'SUCCESS' | 'ROLLED_BACK') => Promise<string>;
}

export interface InstallRun {
  outcome: InstallOutcome;
  reportId: string;
  resumes: number;
  /** How the slot was written: from a delta or the full image (and why a delta fell back). */
  path: SlotInstallResult['path'];
  fallback?: SlotInstallResult['fallback'];
  networkBytes: number;
}

const INTEGRITY_FAILURES = new Set<AgentErrorCode>([
  'TARGET_MISMATCH',
  'LENGTH_MISMATCH',
  'ENDLESS_DATA',
  'READBACK_MISMATCH',
  // a delta with no full image to fall back to (a delta-only bundle); never otherwise thrown
  'DELTA_MALFORMED',
  'DELTA_TRUNCATED',
  'DELTA_BASE_MISMATCH',
  'DELTA_TARGET_MISMATCH',
  'DELTA_UNAVAILABLE',
]);

export function toSlotImage(t: InstallJournal['target']): SlotImage {
  return {
    name: t.name,
    version: t.version,
    releaseCounter: t.releaseCounter,
    sha256: t.sha256,
    length: t.length,
  };
}

async function runHealthCheck(
  m: InstallMachine,
  slot: SlotName,
  image: SlotImage | null,
): Promise<boolean> {
  if (image === null) return false;
  if (!m.healthCheck) return true;
  try {
    return await m.healthCheck(slot, image);
  } catch {
    return false;
  }
}

/**
 * Boots (on a real device: observes the boot into) the pending slot, health-checks it, commits or
 * rolls back, queues the report and closes the journal. Safe to repeat after a crash at any step.
 */
export async function finishPendingBoot(
  m: InstallMachine,
  j: InstallJournal,
): Promise<{ outcome: InstallOutcome; reportId: string }> {
  const { slots } = m;
  let state = await slots.readState();
  if (state.pending?.slot === j.slot) {
    const booted = await slots.boot();
    state = await slots.readState();
    if (booted === j.slot && state.pending?.slot === j.slot) {
      const healthy = await runHealthCheck(m, j.slot, state.slots[j.slot]);
      if (healthy) await slots.commit();
      else await slots.rollback();
      state = await slots.readState();
    }
  }
  const committed = state.active === j.slot && state.slots[j.slot]?.sha256 === j.target.sha256;
  const reportId = await m.report(j, committed ? 'SUCCESS' : 'ROLLED_BACK');
  await m.journal.write({ phase: 'IDLE' });
  return { outcome: committed ? 'COMMITTED' : 'ROLLED_BACK', reportId };
}

export interface Recovery {
  outcome: 'NOTHING' | InstallOutcome | 'INSTALL_ABANDONED';
  journal?: InstallJournal;
  reportId?: string;
}

/**
 * Completes what an interrupted run left behind. A slot that was being written is left for a
 * Range resume (the caller decides, after verifying again); a slot marked for boot is booted,
 * health-checked and committed or rolled back. The active slot is not touched before that.
 */
export async function recoverInstall(m: InstallMachine): Promise<Recovery> {
  const j = await m.journal.read();
  if (j.phase === 'IDLE') return { outcome: 'NOTHING' };
  const state = await m.slots.readState();
  const marked =
    j.phase === 'PENDING_BOOT' ||
    (state.pending?.slot === j.slot && state.slots[j.slot]?.sha256 === j.target.sha256);
  if (marked) {
    const done = await finishPendingBoot(m, { ...j, phase: 'PENDING_BOOT' });
    return { outcome: done.outcome, journal: j, reportId: done.reportId };
  }
  return { outcome: 'INSTALL_ABANDONED', journal: j };
}

/**
 * Bytes of an interrupted install of the same image that may be kept: only once its journal
 * says the slot was opened for it (otherwise the slot holds bytes of unknown origin).
 */
export async function resumableBytes(
  m: Pick<InstallMachine, 'slots'>,
  interrupted: InstallJournal | undefined,
  next: { slot: SlotName; sha256: string; sha512: string },
): Promise<number> {
  if (
    interrupted?.slotOpened !== true ||
    interrupted.slot !== next.slot ||
    interrupted.target.sha256 !== next.sha256 ||
    interrupted.target.sha512 !== next.sha512
  ) {
    return 0;
  }
  return Math.min(await m.slots.storedBytes(next.slot), interrupted.target.length);
}

export interface InstallImageOptions {
  dispatcher: Dispatcher;
  config: Pick<
    Config,
    | 'fetchRetries'
    | 'retryBaseDelayMs'
    | 'retryMaxDelayMs'
    | 'downloadResumes'
    | 'userAgent'
    | 'maxBootAttempts'
    | 'minDownloadBytesPerSecond'
    | 'downloadGraceMs'
  > &
    Partial<Pick<Config, 'sha512Worker'>>;
  /** Bytes already in the slot from an interrupted install of the same image. */
  resumeFrom?: number;
  /** A read-back worker started ahead of the install (slot-readback.ts, startReadbackWorker). */
  readbackWorker?: WorkerSlotReadback | undefined;
  onProgress?: ((received: number, total: number) => void) | undefined;
  /** A delta from the active slot's image, tried first (install/delta-install.ts). */
  delta?: DeltaPlan | undefined;
  /** False when there is no full image to fall back to (a delta-only offline bundle). */
  fullFallback?: boolean;
}

/**
 * Installs an image whose every check has passed: journal INSTALLING, stream into the slot,
 * read back, mark pending, journal PENDING_BOOT, then boot, health check, commit or roll back.
 */
export async function installImage(
  m: InstallMachine,
  j: InstallJournal & { phase: 'INSTALLING' },
  opts: InstallImageOptions,
): Promise<InstallRun> {
  const { slots } = m;
  await m.journal.write(j);
  const expected = { length: j.target.length, sha256: j.target.sha256, sha512: j.target.sha512 };
  let streamed: SlotInstallResult;
  try {
    streamed = await installIntoSlot({
      url: j.target.url,
      slots,
      slot: j.slot,
      expected,
      dispatcher: opts.dispatcher,
      config: opts.config,
      resumeFrom: opts.resumeFrom ?? 0,
      readbackWorker: opts.readbackWorker,
      onSlotOpened: () => m.journal.write({ ...j, slotOpened: true }),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      delta: opts.delta,
      ...(opts.fullFallback === false ? { fullFallback: false } : {}),
    });
    // installIntoSlot also read every byte back from the slot
  } catch (err) {
    if (err instanceof AgentError && INTEGRITY_FAILURES.has(err.code)) {
      // Bytes that failed verification are worth nothing: start from zero next time.
      if (err.code === 'READBACK_MISMATCH') await slots.recordFailure(j.target.sha256);
      await m.journal.write({ phase: 'IDLE' });
    }
    // After a network failure the journal stays INSTALLING: the next cycle resumes the slot.
    throw err;
  }
  await slots.markPending(j.slot, toSlotImage(j.target), opts.config.maxBootAttempts);
  const pending: InstallJournal = {
    ...j,
    phase: 'PENDING_BOOT',
    install: {
      path: streamed.path,
      networkBytes: streamed.networkBytes,
      // The code only: the message may name hosts or paths, and the report is public.
      ...(streamed.fallback ? { fallback: { code: streamed.fallback.code } } : {}),
    },
  };
  await m.journal.write(pending);
  const done = await finishPendingBoot(m, pending);
  return {
    ...done,
    resumes: streamed.resumes,
    path: streamed.path,
    networkBytes: streamed.networkBytes,
    ...(streamed.fallback ? { fallback: streamed.fallback } : {}),
  };
}
