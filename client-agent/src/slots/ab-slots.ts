import { open, mkdir, stat } from 'node:fs/promises';
import { createReadStream, readSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AgentError } from '../error.js';
import { readJsonIfExists, syncDir, writeJsonDurable } from '../util/durable.js';
import { openSlotFile } from './slot-file.js';
import type {
  SlotImage,
  SlotName,
  SlotReader,
  SlotState,
  SlotStore,
  SlotWriter,
} from './slot-store.js';

const slotName = z.enum(['a', 'b']);
const slotImage = z.object({
  name: z.string(),
  version: z.string(),
  releaseCounter: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  length: z.number().int().nonnegative(),
});
const slotStateSchema = z.object({
  active: slotName,
  booted: slotName,
  pending: z.object({ slot: slotName, attemptsLeft: z.number().int().nonnegative() }).nullable(),
  slots: z.object({ a: slotImage.nullable(), b: slotImage.nullable() }),
  failures: z.record(z.string(), z.number().int().nonnegative()),
});

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

/**
 * A/B slots as two files (`slot-a.img`, `slot-b.img`) beside a durable `state.json`
 * (write temp + fsync + rename + fsync dir), for development, tests and simulation.
 */
export class FileSlotStore implements SlotStore {
  readonly dir: string;
  readonly #directIo: boolean;

  /** `directIo` (default true): install writes and read-backs bypass the page cache (slot-file.ts). */
  constructor(dir: string, opts?: { directIo?: boolean }) {
    this.dir = dir;
    this.#directIo = opts?.directIo ?? true;
  }

  /** Creates a slot store whose slot A holds `image` as the committed factory image. */
  static async provision(
    dir: string,
    factory: { image: Uint8Array; name: string; version: string; releaseCounter: number },
    opts?: { directIo?: boolean },
  ): Promise<FileSlotStore> {
    const { createHash } = await import('node:crypto');
    await mkdir(dir, { recursive: true });
    const store = new FileSlotStore(dir, opts);
    for (const [slot, bytes] of [
      ['a', factory.image],
      ['b', new Uint8Array(0)],
    ] as const) {
      const fh = await open(store.slotPath(slot), 'w', 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await syncDir(dir);
    await store.#write({
      active: 'a',
      booted: 'a',
      pending: null,
      slots: {
        a: {
          name: factory.name,
          version: factory.version,
          releaseCounter: factory.releaseCounter,
          sha256: createHash('sha256').update(factory.image).digest('hex'),
          length: factory.image.length,
        },
        b: null,
      },
      failures: {},
    });
    return store;
  }

  slotPath(slot: SlotName): string {
    return join(this.dir, `slot-${slot}.img`);
  }

  get statePath(): string {
    return join(this.dir, 'state.json');
  }

  async readState(): Promise<SlotState> {
    let raw: unknown;
    try {
      raw = await readJsonIfExists(this.statePath);
    } catch (err) {
      throw new AgentError('SLOT_STATE_INVALID', `unreadable slot state in ${this.dir}`, {
        cause: err,
      });
    }
    if (raw === undefined) {
      throw new AgentError(
        'SLOT_STATE_INVALID',
        `no slot state in ${this.dir}; provision it first`,
      );
    }
    const parsed = slotStateSchema.safeParse(raw);
    if (!parsed.success) {
      throw new AgentError('SLOT_STATE_INVALID', `malformed slot state in ${this.dir}`, {
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  async #write(state: SlotState): Promise<void> {
    await writeJsonDurable(this.statePath, state);
  }

  async inactiveSlot(): Promise<SlotName> {
    const s = await this.readState();
    return otherSlot(s.active);
  }

  async openForWrite(slot: SlotName, opts?: { resumeFrom?: number }): Promise<SlotWriter> {
    const state = await this.readState();
    if (slot === state.active || slot === state.booted) {
      throw new AgentError('SLOT_BUSY', `slot ${slot} is active or booted and cannot be written`);
    }
    if (state.slots[slot] !== null || state.pending?.slot === slot) {
      state.slots[slot] = null;
      if (state.pending?.slot === slot) state.pending = null;
      await this.#write(state);
    }
    return openSlotFile(this.slotPath(slot), {
      resumeFrom: opts?.resumeFrom ?? 0,
      directIo: this.#directIo,
    });
  }

  async storedBytes(slot: SlotName): Promise<number> {
    try {
      return (await stat(this.slotPath(slot))).size;
    } catch {
      return 0;
    }
  }

  async openForRead(slot: SlotName): Promise<SlotReader> {
    const fh = await open(this.slotPath(slot), 'r');
    return {
      read: async (position, into) => (await fh.read(into, 0, into.length, position)).bytesRead,
      readSync: (position, into) => readSync(fh.fd, into, 0, into.length, position),
      close: () => fh.close(),
    };
  }

  async *readImage(slot: SlotName, length: number): AsyncIterable<Uint8Array> {
    if (length === 0) return;
    const stream = createReadStream(this.slotPath(slot), {
      start: 0,
      end: length - 1,
      highWaterMark: 1024 * 1024,
    });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  async markPending(slot: SlotName, image: SlotImage, bootAttempts: number): Promise<void> {
    const state = await this.readState();
    if (slot === state.active) {
      throw new AgentError('SLOT_BUSY', `slot ${slot} is the active slot`);
    }
    state.slots[slot] = image;
    state.pending = { slot, attemptsLeft: Math.max(1, bootAttempts) };
    await this.#write(state);
  }

  async boot(): Promise<SlotName> {
    const state = await this.readState();
    if (state.pending && state.pending.attemptsLeft > 0) {
      state.pending.attemptsLeft -= 1;
      state.booted = state.pending.slot;
    } else {
      if (state.pending) {
        const image = state.slots[state.pending.slot];
        if (image) state.failures[image.sha256] = (state.failures[image.sha256] ?? 0) + 1;
        state.pending = null;
      }
      state.booted = state.active;
    }
    await this.#write(state);
    return state.booted;
  }

  async commit(): Promise<void> {
    const state = await this.readState();
    if (!state.pending || state.booted !== state.pending.slot) {
      throw new AgentError('SLOT_STATE_INVALID', 'no booted pending slot to commit');
    }
    state.active = state.pending.slot;
    state.pending = null;
    const image = state.slots[state.active];
    if (image) delete state.failures[image.sha256];
    await this.#write(state);
  }

  async rollback(): Promise<void> {
    const state = await this.readState();
    if (state.pending) {
      const image = state.slots[state.pending.slot];
      if (image) state.failures[image.sha256] = (state.failures[image.sha256] ?? 0) + 1;
      state.pending = null;
    }
    state.booted = state.active;
    await this.#write(state);
  }

  async revert(): Promise<void> {
    const state = await this.readState();
    const previous = otherSlot(state.active);
    if (!state.slots[previous]) {
      throw new AgentError('SLOT_STATE_INVALID', 'the other slot holds no image to revert to');
    }
    state.active = previous;
    state.booted = previous;
    state.pending = null;
    await this.#write(state);
  }

  async recordFailure(sha256: string): Promise<void> {
    const state = await this.readState();
    state.failures[sha256] = (state.failures[sha256] ?? 0) + 1;
    await this.#write(state);
  }
}
