import { join } from 'node:path';
import { z } from 'zod';
import {
  signEnvelope,
  type EcuInstallResult,
  type EcuVersionReport,
  type EnvelopeSigner,
  type SignedEcuInstallResult,
  type SignedEnvelope,
} from '@tufchain/transparency/wire';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import type { ImageSink } from '../install/image-io.js';
import { openSlotSink } from '../install/slot-sink.js';
import { nextReportCounter } from '../report/counter.js';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';
import type { SlotImage, SlotName, SlotStore } from '../slots/slot-store.js';
import type { EcuTarget, ResultContext } from './ecu.js';

/**
 * One ECU's own side of an atomic install, over its A/B slots: write and verify the inactive slot
 * (prepare), boot it pending and health-check it (switch), make it permanent (commit) or go back
 * (roll back), and sign its version reports and results with its own key. The primary runs one
 * for itself; each secondary process runs one. A pending slot is never committed here on the
 * ECU's own initiative: only on the primary's word (UPTANE.md, "Atomic multi-ECU install").
 */
export class EcuSlots {
  readonly serial: string;
  readonly slots: SlotStore;
  readonly #signer: EnvelopeSigner;
  readonly #stateDir: string;
  readonly #config: Pick<Config, 'maxBootAttempts' | 'sha512Worker'>;
  readonly #healthCheck: (slot: SlotName, image: SlotImage) => Promise<boolean>;

  constructor(opts: {
    serial: string;
    slots: SlotStore;
    signer: EnvelopeSigner;
    stateDir: string;
    config: Pick<Config, 'maxBootAttempts' | 'sha512Worker'>;
    healthCheck?: ((slot: SlotName, image: SlotImage) => Promise<boolean>) | undefined;
  }) {
    this.serial = opts.serial;
    this.slots = opts.slots;
    this.#signer = opts.signer;
    this.#stateDir = opts.stateDir;
    this.#config = opts.config;
    this.#healthCheck = opts.healthCheck ?? (() => Promise.resolve(true));
  }

  #counter(): Promise<number> {
    return nextReportCounter(join(this.#stateDir, 'ecu-report'));
  }

  /**
   * Uptane's rule against rollback attacks, kept by the ECU itself: an image whose release counter
   * is below that of the committed image is refused (DOWNGRADE). The Director chooses which
   * release an ECU gets, older than the newest one logged too (a staged rollout), but never one
   * older than what the ECU runs; the on-chain minimum version and recalls bound it from below.
   */
  async assertNotDowngrade(target: { name: string; releaseCounter: number }): Promise<void> {
    const state = await this.slots.readState();
    const committed = state.slots[state.active];
    if (committed && target.releaseCounter < committed.releaseCounter) {
      throw new AgentError(
        'DOWNGRADE',
        `${target.name} is release ${target.releaseCounter}; ECU ${this.serial} runs release ${committed.releaseCounter}`,
      );
    }
  }

  /** The inactive slot, opened for `target` (a pending slot from an earlier set is dropped). */
  async openSink(target: EcuTarget): Promise<ImageSink> {
    const state = await this.slots.readState();
    if (state.pending) await this.slots.rollback();
    const slot = await this.slots.inactiveSlot();
    return openSlotSink({
      slots: this.slots,
      slot,
      length: target.length,
      config: { sha512Worker: this.#config.sha512Worker },
    });
  }

  /** After the stream verified it: boots the slot pending and health-checks it (kept pending). */
  async switchTo(target: EcuTarget): Promise<boolean> {
    let state = await this.slots.readState();
    const slot = state.pending?.slot ?? (await this.slots.inactiveSlot());
    if (!(state.pending?.slot === slot && state.booted === slot)) {
      await this.slots.markPending(slot, toSlotImage(target), this.#config.maxBootAttempts);
      await this.slots.boot();
      state = await this.slots.readState();
    }
    const image = state.slots[slot];
    if (state.booted !== slot || !image || image.sha256 !== target.sha256) return false;
    try {
      return await this.#healthCheck(slot, image);
    } catch {
      return false;
    }
  }

  /**
   * Commits the booted pending slot holding `target`; idempotent once this set committed here.
   * The pending slot is looked at first: with the same image in both slots (a set that installs
   * the image the ECU already runs) a commit that only compared the active image left the slot
   * pending. Which set committed which slot is recorded first, durably: only that record lets a
   * rollback of the set know the commit was its own (see rollback).
   */
  async commit(ctx: ResultContext): Promise<SignedEcuInstallResult> {
    const state = await this.slots.readState();
    const pending = state.pending && state.slots[state.pending.slot];
    if (
      state.pending &&
      state.booted === state.pending.slot &&
      pending?.sha256 === ctx.target.sha256
    ) {
      await writeJsonDurable(this.#commitRecordPath, { set: ctx.set, slot: state.pending.slot });
      await this.slots.commit();
    } else if (!(await this.#committedHere(ctx.set, state.active))) {
      throw new AgentError(
        'ECU_NOT_PREPARED',
        `ECU ${this.serial} has no booted pending slot to commit`,
      );
    }
    return this.result(ctx, 'SUCCESS', '');
  }

  /**
   * Drops a pending slot and returns to the active one (nothing to do when nothing switched); when
   * this very set committed here (another ECU of the set could not commit), goes back to the
   * previous slot, which no install touches before the set is settled. Whether the set committed
   * here is never inferred from the image: the images of releases come round (a release with the
   * bytes of an earlier one), and a rollback carried out twice after a crash then took the ECU to
   * the slot of the rolled-back set.
   */
  async rollback(ctx: ResultContext): Promise<SignedEcuInstallResult> {
    const state = await this.slots.readState();
    if (state.pending || state.booted !== state.active) await this.slots.rollback();
    else if (await this.#committedHere(ctx.set, state.active)) await this.slots.revert();
    return this.result(ctx, 'ROLLED_BACK', ctx.code);
  }

  get #commitRecordPath(): string {
    return join(this.#stateDir, 'atomic-commit.json');
  }

  /** Whether `set` made `active` this ECU's active slot (the last commit's record). */
  async #committedHere(set: string, active: SlotName): Promise<boolean> {
    let raw: unknown;
    try {
      raw = await readJsonIfExists(this.#commitRecordPath);
    } catch (err) {
      throw new AgentError('STATE_CORRUPT', 'the atomic commit record is unreadable', {
        cause: err,
      });
    }
    if (raw === undefined) return false;
    const record = commitRecord.safeParse(raw);
    if (!record.success) {
      throw new AgentError('STATE_CORRUPT', 'the atomic commit record is malformed');
    }
    return record.data.set === set && record.data.slot === active;
  }

  async result(
    ctx: ResultContext,
    result: EcuInstallResult['result'],
    code: string,
  ): Promise<SignedEcuInstallResult> {
    const signed: EcuInstallResult = {
      ecu_serial: this.serial,
      correlation_id: ctx.correlationId,
      target: {
        filepath: ctx.target.name,
        fileinfo: {
          length: ctx.target.length,
          hashes: { sha256: ctx.target.sha256, sha512: ctx.target.sha512 },
        },
      },
      result,
      code,
      report_counter: await this.#counter(),
      timeserver_time: ctx.time,
    };
    return signEnvelope(signed, [this.#signer]);
  }

  /** The ECU's version report for this cycle (UPTANE.md), signed by its key. */
  async versionReport(input: {
    nonce: string;
    time: string;
    previousTime?: string | undefined;
    attacksDetected?: string | undefined;
  }): Promise<SignedEnvelope<EcuVersionReport>> {
    const state = await this.slots.readState();
    const image = state.slots[state.active];
    if (!image) throw new AgentError('SLOT_STATE_INVALID', 'the active slot holds no image');
    const report: EcuVersionReport = {
      ecu_serial: this.serial,
      installed_image: {
        filepath: image.name,
        fileinfo: { length: image.length, hashes: { sha256: image.sha256 } },
      },
      attacks_detected: input.attacksDetected ?? '',
      report_counter: await this.#counter(),
      nonce: input.nonce,
      timeserver_time: input.time,
      ...(input.previousTime ? { previous_timeserver_time: input.previousTime } : {}),
    };
    return signEnvelope(report, [this.#signer]);
  }
}

const commitRecord = z.object({ set: z.string(), slot: z.enum(['a', 'b']) });

export function toSlotImage(t: EcuTarget): SlotImage {
  return {
    name: t.name,
    version: t.version,
    releaseCounter: t.releaseCounter,
    sha256: t.sha256,
    length: t.length,
  };
}
