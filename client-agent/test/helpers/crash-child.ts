/**
 * Child process for the crash-injection test: installs images in a loop with the agent's real
 * install state machine, FileSlotStore, journal, report counter and outbox, until it is killed
 * with SIGKILL. Started with plain `node --conditions=@tufchain/source --import bin/ts-register.mjs` so that it starts fast.
 */
import { appendFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { defaultConfig } from '../../src/config.js';
import {
  installImage,
  recoverInstall,
  resumableBytes,
  type InstallMachine,
} from '../../src/install/state-machine.js';
import { InstallJournalStore, type InstallJournal } from '../../src/journal.js';
import { nextReportCounter } from '../../src/report/counter.js';
import { ReportOutbox } from '../../src/report/outbox.js';
import { FileSlotStore } from '../../src/slots/ab-slots.js';
import { createDispatcher } from '../../src/util/http.js';

export interface CrashImage {
  name: string;
  url: string;
  sha256: string;
  sha512: string;
  length: number;
  releaseCounter: number;
}

export interface CrashChildConfig {
  slotsDir: string;
  stateDir: string;
  images: CrashImage[];
  /** Probability that the health check of a freshly booted slot fails. */
  healthFailRate: number;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as CrashChildConfig;
  const slots = new FileSlotStore(cfg.slotsDir);
  const outbox = new ReportOutbox(cfg.stateDir);
  const log = (line: string): void => appendFileSync(`${cfg.stateDir}/events.log`, `${line}\n`);
  const machine: InstallMachine = {
    slots,
    journal: new InstallJournalStore(cfg.stateDir),
    healthCheck: () => Promise.resolve(Math.random() >= cfg.healthFailRate),
    report: async (j: InstallJournal, result) => {
      const existing = await outbox.findByKey(j.installId);
      if (existing) return existing;
      const counter = await nextReportCounter(cfg.stateDir);
      return outbox.enqueue(counter, j.installId, { counter, result, sha256: j.target.sha256 });
    },
  };
  const dispatcher = createDispatcher(defaultConfig);
  const config = { ...defaultConfig, maxBootAttempts: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 2 };
  process.stdout.write('ready\n');
  for (;;) {
    const recovery = await recoverInstall(machine);
    if (recovery.outcome !== 'NOTHING') log(`recovered ${recovery.outcome}`);
    const state = await slots.readState();
    const slot = await slots.inactiveSlot();
    const active = state.slots[state.active];
    const abandoned = recovery.outcome === 'INSTALL_ABANDONED' ? recovery.journal : undefined;
    const resume = abandoned?.slot === slot ? abandoned : undefined;
    const index = cfg.images.findIndex((i) => i.sha256 === active?.sha256);
    const image = resume
      ? cfg.images.find((i) => i.sha256 === resume.target.sha256)
      : cfg.images[(index + 1) % cfg.images.length];
    if (!image) throw new Error('no image to install');
    log('start');
    try {
      const run = await installImage(
        machine,
        {
          phase: 'INSTALLING',
          installId: resume?.installId ?? randomBytes(16).toString('hex'),
          slot,
          target: { ...image, version: String(image.releaseCounter) },
          from: null,
          startedAt: new Date().toISOString(),
          metadata: { targetsVersion: 1, targetsHash: '0x' + '00'.repeat(32) },
          checkpoint: {
            chainId: 1,
            blockNumber: 1,
            blockHash: '0x' + '00'.repeat(32),
            timestamp: 0,
          },
        },
        {
          dispatcher,
          config,
          resumeFrom: await resumableBytes(machine, resume, { slot, ...image }),
        },
      );
      log(`done ${run.outcome}`);
    } catch (err) {
      log(`error ${(err as { code?: string }).code ?? String(err)}`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(2);
});
