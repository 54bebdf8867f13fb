import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDelta, encodeDeltaHeader, DELTA_HEADER_BYTES } from '@tufchain/transparency/delta';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config.js';
import { FileSlotStore } from '../slots/ab-slots.js';
import type { SlotReader } from '../slots/slot-store.js';
import { createDispatcher } from '../util/http.js';
import { installIntoSlot, type DeltaPlan } from './delta-install.js';
import type { ExpectedImage } from './image-io.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const expectedOf = (b: Buffer): ExpectedImage => ({
  length: b.length,
  sha256: sha256(b),
  sha512: createHash('sha512').update(b).digest('hex'),
});

// v1 in slot A; v2 changes scattered bytes and inserts 100 KiB that shifts what follows.
const v1 = randomBytes(3 * 1024 * 1024 + 5);
const v2 = (() => {
  const edited = Buffer.from(v1);
  for (let k = 1; k < 40; k++) edited[k * 70_001] = (edited[k * 70_001] as number) ^ 0x5a;
  return Buffer.concat([
    edited.subarray(0, 1_000_000),
    randomBytes(100 * 1024),
    edited.subarray(1_000_000),
  ]);
})();
const delta = createDelta(v1, v2, { level: 3 });
const expected = expectedOf(v2);
const config = {
  ...defaultConfig,
  fetchTimeoutMs: 500,
  downloadResumes: 2,
  fetchRetries: 1,
  retryBaseDelayMs: 1,
  retryMaxDelayMs: 5,
};

let serveDelta: (req: IncomingMessage, res: ServerResponse) => void;
const served: string[] = [];
const server = createServer((req, res) => {
  served.push(`${req.url} ${req.headers.range ?? ''}`.trim());
  if (req.url === '/delta') serveDelta(req, res);
  else serveFrom(req, res, v2);
});
let origin = '';

function serveFrom(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  res.writeHead(m ? 206 : 200, {
    'content-length': body.length - start,
    ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
  });
  res.end(body.subarray(start));
}

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('installIntoSlot', () => {
  let dir: string;
  let slots: FileSlotStore;
  const dispatcher = createDispatcher(config);
  const plan = (over: Partial<DeltaPlan> = {}): DeltaPlan => ({
    url: `${origin}/delta`,
    length: delta.length,
    sha256: sha256(delta),
    baseSlot: 'a',
    base: { length: v1.length, sha256: sha256(v1) },
    ...over,
  });
  const install = (deltaPlan: DeltaPlan | undefined, verifyDeltaBase?: boolean) =>
    installIntoSlot({
      url: `${origin}/image`,
      slots,
      slot: 'b',
      expected,
      dispatcher,
      config,
      delta: deltaPlan,
      ...(verifyDeltaBase !== undefined ? { verifyDeltaBase } : {}),
    });

  beforeEach(async () => {
    served.length = 0;
    dir = await mkdtemp(join(tmpdir(), 'delta-install-'));
    slots = await FileSlotStore.provision(dir, {
      image: v1,
      name: 'fw',
      version: '1',
      releaseCounter: 1,
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await dispatcher.close();
  });

  describe('when TUF lists a delta from the active image', () => {
    it('builds the new image from it, downloading only the delta', async () => {
      serveDelta = (req, res) => serveFrom(req, res, delta);
      const result = await install(plan());
      expect(result).toMatchObject({ path: 'delta', networkBytes: delta.length });
      expect(result.fallback).toBeUndefined();
      expect(delta.length).toBeLessThan(v2.length / 20);
      expect((await readFile(slots.slotPath('b'))).equals(v2)).toBe(true);
      expect((await readFile(slots.slotPath('a'))).equals(v1)).toBe(true);
      expect(served).toEqual(['/delta']);
    });

    it('reads the base through a slot store that only reads asynchronously', async () => {
      serveDelta = (req, res) => serveFrom(req, res, delta);
      /** The same slots, through a reader without readSync. */
      class AsyncOnlySlots extends FileSlotStore {
        override async openForRead(slot: 'a' | 'b'): Promise<SlotReader> {
          const reader = await super.openForRead(slot);
          return { read: (p, into) => reader.read(p, into), close: () => reader.close() };
        }
      }
      const asyncOnly = new AsyncOnlySlots(slots.dir);
      const result = await installIntoSlot({
        url: `${origin}/image`,
        slots: asyncOnly,
        slot: 'b',
        expected,
        dispatcher,
        config,
        delta: plan(),
      });
      expect(result).toMatchObject({ path: 'delta', networkBytes: delta.length });
      expect((await readFile(slots.slotPath('b'))).equals(v2)).toBe(true);
    });

    it('resumes the delta with a Range request after the connection drops', async () => {
      let first = true;
      serveDelta = (req, res) => {
        if (!first) return serveFrom(req, res, delta);
        first = false;
        res.writeHead(200, { 'content-length': delta.length });
        res.write(delta.subarray(0, DELTA_HEADER_BYTES + 1000), () => res.destroy());
      };
      const result = await install(plan());
      expect(result).toMatchObject({ path: 'delta', resumes: 1, networkBytes: delta.length });
      expect(served[1]).toBe(`/delta bytes=${DELTA_HEADER_BYTES + 1000}-`);
      expect((await readFile(slots.slotPath('b'))).equals(v2)).toBe(true);
    });
  });

  describe('falls back to the full image, the active slot unchanged', () => {
    const otherBase = randomBytes(v1.length);
    const corrupt = (() => {
      const bad = Buffer.from(delta);
      for (let i = DELTA_HEADER_BYTES + 20; i < bad.length; i += 97)
        bad[i] = (bad[i] as number) ^ 0xff;
      return bad;
    })();
    const table: {
      desc: string;
      bytes: Buffer;
      plan?: Partial<DeltaPlan>;
      modifySlotA?: boolean;
      verifyDeltaBase?: boolean;
      wantCode: string;
    }[] = [
      {
        desc: 'a corrupt delta (as TUF lists it)',
        bytes: corrupt,
        plan: { sha256: sha256(corrupt) },
        wantCode: 'DELTA_MALFORMED',
      },
      {
        desc: 'a delta that is not the one TUF lists',
        bytes: delta,
        plan: { sha256: sha256(Buffer.from('another delta')) },
        wantCode: 'DELTA_TARGET_MISMATCH',
      },
      {
        desc: 'a delta for another base',
        bytes: createDelta(otherBase, v2, { level: 1 }),
        wantCode: 'DELTA_BASE_MISMATCH',
      },
      {
        desc: 'a delta that builds another image',
        bytes: createDelta(v1, v1, { level: 1 }),
        wantCode: 'DELTA_MALFORMED',
      },
      {
        desc: 'a truncated delta',
        bytes: delta.subarray(0, Math.floor(delta.length * 0.6)),
        wantCode: 'DELTA_TRUNCATED',
      },
      {
        desc: 'a delta cut inside its header',
        bytes: delta.subarray(0, 40),
        wantCode: 'DELTA_TRUNCATED',
      },
      {
        desc: 'a delta with a bad header',
        bytes: Buffer.concat([
          encodeDeltaHeader({
            base: { length: v1.length, sha256: sha256(v1) },
            target: { length: v2.length, sha256: sha256(v2) },
          }).fill(0, 0, 3),
          delta.subarray(DELTA_HEADER_BYTES),
        ]),
        wantCode: 'DELTA_MALFORMED',
      },
      {
        desc: 'a modified active slot (told apart after the final check)',
        bytes: delta,
        modifySlotA: true,
        wantCode: 'DELTA_BASE_MISMATCH',
      },
      {
        desc: 'a modified active slot, hashed while the delta applies',
        bytes: delta,
        modifySlotA: true,
        verifyDeltaBase: true,
        wantCode: 'DELTA_BASE_MISMATCH',
      },
    ];
    for (const row of table) {
      it(`${row.desc}: ${row.wantCode}`, async () => {
        serveDelta = (req, res) => serveFrom(req, res, row.bytes);
        let slotA = v1;
        if (row.modifySlotA) {
          slotA = Buffer.from(v1);
          slotA[2_000_000] = (slotA[2_000_000] as number) ^ 1;
          await writeFile(slots.slotPath('a'), slotA);
        }
        const result = await install(plan(row.plan), row.verifyDeltaBase);
        expect(result.path).toBe('full');
        expect(result.fallback?.code).toBe(row.wantCode);
        expect(result.networkBytes).toBeGreaterThanOrEqual(v2.length);
        expect(result.networkBytes).toBeLessThanOrEqual(v2.length + row.bytes.length);
        expect((await readFile(slots.slotPath('b'))).equals(v2)).toBe(true);
        expect((await readFile(slots.slotPath('a'))).equals(slotA)).toBe(true);
        expect((await slots.readState()).active).toBe('a');
      });
    }

    it('a delta the server does not have: DOWNLOAD_HTTP', async () => {
      serveDelta = (_req, res) => res.writeHead(404).end();
      const result = await install(plan());
      expect(result).toMatchObject({ path: 'full', networkBytes: v2.length });
      expect(result.fallback?.code).toBe('DOWNLOAD_HTTP');
    });
  });

  it('installs the full image, with no fallback, when no delta is planned', async () => {
    const result = await install(undefined);
    expect(result).toMatchObject({ path: 'full', networkBytes: v2.length });
    expect(result.fallback).toBeUndefined();
    expect((await readFile(slots.slotPath('b'))).equals(v2)).toBe(true);
  });
});
