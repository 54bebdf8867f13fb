import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directIoAvailable } from '../../test/helpers/direct-io.js';
import { FileSlotStore } from './ab-slots.js';
import type { SlotImage } from './slot-store.js';
import { DIRECT_IO_ALIGN, type SlotFileWriter } from './slot-file.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('FileSlotStore', () => {
  let dir: string;
  let store: FileSlotStore;
  const factory = Buffer.from('factory image v1');
  const next = Buffer.from('next image v2, a little longer');
  const nextImage: SlotImage = {
    name: 'fw',
    version: '2.0.0',
    releaseCounter: 2,
    sha256: sha(next),
    length: next.length,
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slots-'));
    store = await FileSlotStore.provision(dir, {
      image: factory,
      name: 'fw',
      version: '1.0.0',
      releaseCounter: 1,
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function install(): Promise<void> {
    const w = await store.openForWrite('b');
    await w.write(next);
    await w.sync();
    await w.close();
    await store.markPending('b', nextImage, 2);
  }

  describe('when provisioned', () => {
    it('has slot A active with the factory image digest', async () => {
      const s = await store.readState();
      expect(s.active).toBe('a');
      expect(s.slots.a?.sha256).toBe(sha(factory));
      expect(await store.inactiveSlot()).toBe('b');
    });
  });

  describe('when an installed slot boots and is committed', () => {
    it('makes slot B active', async () => {
      await install();
      expect(await store.boot()).toBe('b');
      await store.commit();
      const s = await store.readState();
      expect(s.active).toBe('b');
      expect(s.pending).toBeNull();
      expect(sha(await readFile(store.slotPath('b')))).toBe(s.slots.b?.sha256);
    });
  });

  describe('when the new slot never gets committed', () => {
    it('falls back to slot A after the boot attempts and counts a failure', async () => {
      await install();
      expect(await store.boot()).toBe('b');
      expect(await store.boot()).toBe('b');
      expect(await store.boot()).toBe('a');
      const s = await store.readState();
      expect(s.active).toBe('a');
      expect(s.pending).toBeNull();
      expect(s.failures[nextImage.sha256]).toBe(1);
    });
  });

  describe('when rolled back after a failed health check', () => {
    it('boots slot A again', async () => {
      await install();
      await store.boot();
      await store.rollback();
      const s = await store.readState();
      expect(s).toMatchObject({ active: 'a', booted: 'a', pending: null });
      expect(s.failures[nextImage.sha256]).toBe(1);
    });
  });

  describe('when asked to write the active slot', () => {
    it('throws SLOT_BUSY', async () => {
      await expect(store.openForWrite('a')).rejects.toMatchObject({ code: 'SLOT_BUSY' });
    });
  });

  describe('when a slot is opened for writing', () => {
    it('forgets the image it held before the first byte is written', async () => {
      await install();
      await store.rollback();
      const w = await store.openForWrite('b');
      await w.close();
      expect((await store.readState()).slots.b).toBeNull();
    });

    it('keeps the first bytes for a resumed write (page cache: all of them)', async () => {
      const buffered = new FileSlotStore(dir, { directIo: false });
      const w = await buffered.openForWrite('b');
      await w.write(next.subarray(0, 10));
      await w.close();
      const r = await buffered.openForWrite('b', { resumeFrom: 10 });
      expect(r.startOffset).toBe(10);
      await r.write(next.subarray(10));
      await r.close();
      expect(await readFile(store.slotPath('b'))).toEqual(next);
    });

    it('keeps whole aligned blocks for a resumed write when it writes past the page cache', async () => {
      const image = randomBytes(3 * DIRECT_IO_ALIGN);
      const kept = DIRECT_IO_ALIGN + 100;
      const w = await store.openForWrite('b');
      await w.write(image.subarray(0, kept));
      await w.close();
      const r = await store.openForWrite('b', { resumeFrom: kept });
      const direct = (r as SlotFileWriter).directIo;
      expect(direct).toBe(await directIoAvailable(dir));
      expect(r.startOffset).toBe(direct ? DIRECT_IO_ALIGN : kept);
      await r.write(image.subarray(r.startOffset));
      await r.close();
      expect(await readFile(store.slotPath('b'))).toEqual(image);
    });
  });

  describe('when the state file is corrupt', () => {
    it('throws SLOT_STATE_INVALID', async () => {
      await writeFile(store.statePath, '{"active":"c"}');
      await expect(store.readState()).rejects.toMatchObject({ code: 'SLOT_STATE_INVALID' });
    });
  });
});
