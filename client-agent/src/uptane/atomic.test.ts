/**
 * installAtomicSet and recoverAtomicSet over two ECUs of the primary's kind (EcuSlots on real
 * file-backed A/B slots, real keys): what a COMMIT decision does when one ECU can no longer commit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeySigner, generateKeyPair } from '@tufchain/keys';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageSource } from '../install/image-io.js';
import { FileSlotStore } from '../slots/ab-slots.js';
import {
  AtomicJournalStore,
  installAtomicSet,
  LocalEcu,
  recoverAtomicSet,
  type AtomicRun,
} from './atomic.js';
import type { EcuTarget, ResultContext } from './ecu.js';
import { EcuSlots } from './ecu-slots.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

function target(name: string, bytes: Buffer): EcuTarget {
  return {
    name,
    version: '2',
    length: bytes.length,
    sha256: sha('sha256', bytes),
    sha512: sha('sha512', bytes),
    releaseCounter: 2,
  };
}

class BufferSource implements ImageSource {
  constructor(readonly bytes: Buffer) {}
  async read(from: number, _length: number, onChunk: (c: Buffer) => Promise<void> | undefined) {
    await onChunk(this.bytes.subarray(from));
    return { resumes: 0 };
  }
}

/** An ECU whose bootloader gives up on the pending slot before the primary's commit arrives. */
class EcuThatLosesItsPendingSlot extends LocalEcu {
  override async commit(ctx: ResultContext) {
    const slots = this.ecu.slots;
    while ((await slots.readState()).pending) await slots.boot();
    return super.commit(ctx);
  }
}

async function ecu(serial: string, kind: typeof LocalEcu = LocalEcu) {
  const slots = await FileSlotStore.provision(join(dir, serial, 'slots'), {
    image: Buffer.from(`${serial} set 1\n`),
    name: `${serial}-1.img`,
    version: '1',
    releaseCounter: 1,
  });
  const stateDir = join(dir, serial, 'state');
  const e = new kind(
    new EcuSlots({
      serial,
      slots,
      signer: createKeySigner(generateKeyPair('ed25519').privateKey),
      stateDir,
      config: { maxBootAttempts: 2, sha512Worker: false },
    }),
    `${serial}-hw`,
  );
  return { e, slots };
}

async function activeImages(...stores: FileSlotStore[]) {
  return Promise.all(
    stores.map(async (s) => {
      const st = await s.readState();
      return {
        name: st.slots[st.active]?.name,
        pending: st.pending,
        booted: st.booted === st.active,
      };
    }),
  );
}

describe('installAtomicSet', () => {
  describe('when one ECU can no longer commit under a COMMIT decision', () => {
    it('rolls the whole set back (ATOMIC_COMMIT_REFUSED): the ECU that committed returns to its previous slot', async () => {
      const gw = await ecu('GW');
      const brake = await ecu('BRK', EcuThatLosesItsPendingSlot);
      const images = { GW: randomBytes(4096), BRK: randomBytes(5000) };
      const journal = new AtomicJournalStore(join(dir, 'primary'));
      const run = await installAtomicSet(
        [
          { endpoint: gw.e, target: target('GW-2.img', images.GW) },
          { endpoint: brake.e, target: target('BRK-2.img', images.BRK) },
        ],
        {
          journal,
          correlationId: 'urn:test:1',
          now: () => new Date(),
          settleDeadlineMs: 200,
          source: (t) => new BufferSource(t.name.startsWith('GW') ? images.GW : images.BRK),
        },
      );
      expect(run.outcome).toBe('ROLLED_BACK');
      expect(run.code).toBe('ATOMIC_COMMIT_REFUSED');
      expect(await activeImages(gw.slots, brake.slots)).toEqual([
        { name: 'GW-1.img', pending: null, booted: true },
        { name: 'BRK-1.img', pending: null, booted: true },
      ]);
      expect(await journal.read()).toEqual({ phase: 'IDLE' });
    });
  });
});

describe('a set that installs the image an ECU already runs', () => {
  it('commits the pending slot: nothing is left pending and the ECU runs its active slot', async () => {
    const gw = await ecu('GW');
    const image = randomBytes(4096);
    const t = target('GW-2.img', image);
    const journal = new AtomicJournalStore(join(dir, 'primary'));
    const install = () =>
      installAtomicSet([{ endpoint: gw.e, target: t }], {
        journal,
        correlationId: 'urn:test:3',
        now: () => new Date(),
        source: () => new BufferSource(image),
      });
    expect((await install()).outcome).toBe('COMMITTED');
    // Again: both slots now hold the same image.
    expect((await install()).outcome).toBe('COMMITTED');
    expect(await activeImages(gw.slots)).toEqual([
      { name: 'GW-2.img', pending: null, booted: true },
    ]);
  });
});

describe('recoverAtomicSet', () => {
  it('turns a COMMIT that one ECU refuses into a rollback of every ECU (ATOMIC_COMMIT_REFUSED)', async () => {
    const gw = await ecu('GW');
    const brake = await ecu('BRK');
    const images = { GW: randomBytes(4096), BRK: randomBytes(5000) };
    const targets = { GW: target('GW-2.img', images.GW), BRK: target('BRK-2.img', images.BRK) };
    // A primary killed after GW committed; BRK's bootloader then gave up on its pending slot.
    for (const [{ e }, t, bytes] of [
      [gw, targets.GW, images.GW],
      [brake, targets.BRK, images.BRK],
    ] as const) {
      const sink = await e.openSink(t);
      const { streamImage } = await import('../install/stream.js');
      await streamImage({ source: new BufferSource(bytes), sink, expected: t });
      await sink.close();
      expect(await e.switchTo()).toBe(true);
    }
    const ctx = { set: 'x', correlationId: 'urn:test:2', code: '', time: new Date().toISOString() };
    await gw.e.commit({ ...ctx, target: targets.GW });
    while ((await brake.slots.readState()).pending) await brake.slots.boot();
    const journal = new AtomicJournalStore(join(dir, 'primary'));
    const settledRuns: AtomicRun[] = [];
    await journal.write({
      phase: 'COMMIT',
      id: 'x',
      correlationId: 'urn:test:2',
      reportContext: { director: 'v7' },
      ecus: [
        { serial: 'GW', target: targets.GW, prepared: true },
        { serial: 'BRK', target: targets.BRK, prepared: true },
      ],
    });
    const recovered = await recoverAtomicSet([gw.e, brake.e], {
      journal,
      now: () => new Date(),
      settleDeadlineMs: 200,
      onSettled: (run) => {
        settledRuns.push(run);
        return Promise.resolve();
      },
    });
    // The install reports of the set are queued by onSettled, with what the journal kept.
    expect(settledRuns).toMatchObject([
      { id: 'x', reportContext: { director: 'v7' }, outcome: 'ROLLED_BACK' },
    ]);
    expect(recovered?.outcome).toBe('ROLLED_BACK');
    expect(recovered?.code).toBe('ATOMIC_COMMIT_REFUSED');
    expect(await activeImages(gw.slots, brake.slots)).toEqual([
      { name: 'GW-1.img', pending: null, booted: true },
      { name: 'BRK-1.img', pending: null, booted: true },
    ]);
  });
});

describe('a rolled-back set whose image is the one an ECU already runs (images come round)', () => {
  it('leaves the ECU on its committed slot when the rollback is carried out again after a crash', async () => {
    const unhealthy = await FileSlotStore.provision(join(dir, 'BRK', 'slots'), {
      image: Buffer.from('BRK set 1\n'),
      name: 'BRK-1.img',
      version: '1',
      releaseCounter: 1,
    });
    const brake = new LocalEcu(
      new EcuSlots({
        serial: 'BRK',
        slots: unhealthy,
        signer: createKeySigner(generateKeyPair('ed25519').privateKey),
        stateDir: join(dir, 'BRK', 'state'),
        config: { maxBootAttempts: 2, sha512Worker: false },
        healthCheck: () => Promise.resolve(false),
      }),
      'BRK-hw',
    );
    const gw = await ecu('GW');
    // Release 9 of GW carries the very bytes of release 1, which GW runs.
    const gwBytes = Buffer.from('GW set 1\n');
    const images = { GW: gwBytes, BRK: randomBytes(5000) };
    const targets = {
      GW: { ...target('GW-9.img', images.GW), version: '9', releaseCounter: 9 },
      BRK: { ...target('BRK-9.img', images.BRK), version: '9', releaseCounter: 9 },
    };
    const journal = new AtomicJournalStore(join(dir, 'primary'));
    // The primary dies after every ECU rolled back, before its journal says IDLE.
    const died = installAtomicSet(
      [
        { endpoint: gw.e, target: targets.GW },
        { endpoint: brake, target: targets.BRK },
      ],
      {
        journal,
        correlationId: 'urn:test:4',
        now: () => new Date(),
        source: (t) => new BufferSource(t.name.startsWith('GW') ? images.GW : images.BRK),
        onSettled: () => Promise.reject(new Error('killed')),
      },
    );
    await expect(died).rejects.toThrow('killed');
    expect((await journal.read()).phase).toBe('ROLLBACK');
    const recovered = await recoverAtomicSet([gw.e, brake], {
      journal,
      now: () => new Date(),
    });
    expect(recovered?.outcome).toBe('ROLLED_BACK');
    const st = await gw.slots.readState();
    expect(st.slots[st.active]).toMatchObject({ name: 'GW-1.img', version: '1' });
    expect(await activeImages(gw.slots, unhealthy)).toEqual([
      { name: 'GW-1.img', pending: null, booted: true },
      { name: 'BRK-1.img', pending: null, booted: true },
    ]);
  });
});
