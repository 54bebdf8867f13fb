import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config.js';
import { FileSlotStore } from '../slots/ab-slots.js';
import { createDispatcher } from '../util/http.js';
import { DIRECT_IO_ALIGN } from '../slots/slot-file.js';
import { directIoAvailable } from '../../test/helpers/direct-io.js';
import { RESUME_DISTRUST_BYTES } from './block-writer.js';
import type { ExpectedImage } from './image-io.js';
import { verifySlotReadback } from './slot-readback.js';
import { streamIntoSlot } from './stream.js';

/** Random bytes of `length` and what TUF would list for them. */
function randomImage(length: number): [Buffer, ExpectedImage] {
  const bytes = randomBytes(length);
  return [
    bytes,
    {
      length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      sha512: createHash('sha512').update(bytes).digest('hex'),
    },
  ];
}

const [image, expected] = randomImage(256 * 1024 + 17);
const baseConfig = {
  ...defaultConfig,
  fetchTimeoutMs: 300,
  downloadResumes: 2,
  fetchRetries: 1,
  retryBaseDelayMs: 1,
  retryMaxDelayMs: 5,
};
const config = baseConfig;

let handler: (req: IncomingMessage, res: ServerResponse) => void;
const server = createServer((req, res) => handler(req, res));
let url = '';
const ranges: (string | undefined)[] = [];

function serveFrom(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  ranges.push(req.headers.range);
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
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/image`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const directIoHere = await directIoAvailable(tmpdir());

describe.each([true, false])('streamIntoSlot (slot direct I/O %s)', (directIo) => {
  let dir: string;
  let slots: FileSlotStore;
  const dispatcher = createDispatcher(config);
  /** What a resume keeps of `stored` bytes: never the last blocks, and whole blocks if direct. */
  const keptOf = (stored: number): number => {
    const kept = Math.max(0, stored - RESUME_DISTRUST_BYTES);
    return directIo && directIoHere ? kept - (kept % DIRECT_IO_ALIGN) : kept;
  };

  beforeEach(async () => {
    ranges.length = 0;
    dir = await mkdtemp(join(tmpdir(), 'stream-'));
    slots = await FileSlotStore.provision(
      dir,
      { image: Buffer.from('v1'), name: 'fw', version: '1', releaseCounter: 1 },
      { directIo },
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await dispatcher.close();
  });

  const run = (resumeFrom = 0, overrides: Partial<typeof config> = {}) =>
    streamIntoSlot({
      url,
      slots,
      slot: 'b',
      expected,
      dispatcher,
      config: { ...config, ...overrides },
      resumeFrom,
    });

  describe('when the server serves the promised image', () => {
    it('writes it to the slot and it reads back', async () => {
      handler = (req, res) => serveFrom(req, res, image);
      await run();
      await verifySlotReadback(slots, 'b', expected);
      expect(await readFile(slots.slotPath('b'))).toEqual(image);
    });
  });

  describe('attacks and faults', () => {
    const table: {
      desc: string;
      serve: (req: IncomingMessage, res: ServerResponse) => void;
      wantCode: string;
    }[] = [
      {
        desc: 'a tampered image',
        serve: (req, res) => {
          const bad = Buffer.from(image);
          bad[1000] = (bad[1000] ?? 0) ^ 1;
          serveFrom(req, res, bad);
        },
        wantCode: 'TARGET_MISMATCH',
      },
      {
        desc: 'a shorter image',
        serve: (req, res) => serveFrom(req, res, image.subarray(0, image.length - 1)),
        wantCode: 'LENGTH_MISMATCH',
      },
      {
        desc: 'endless data',
        serve: (_req, res) => {
          res.writeHead(200);
          const timer = setInterval(() => {
            if (!res.write(randomBytes(64 * 1024))) return;
          }, 1);
          res.on('close', () => clearInterval(timer));
        },
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'a 404',
        serve: (_req, res) => res.writeHead(404).end(),
        wantCode: 'DOWNLOAD_HTTP',
      },
      {
        desc: 'a server that stalls after the headers',
        serve: (_req, res) => {
          res.writeHead(200, { 'content-length': image.length });
          res.write(image.subarray(0, 10));
        },
        wantCode: 'DOWNLOAD_TIMEOUT',
      },
    ];
    for (const { desc, serve, wantCode } of table) {
      it(`refuses ${desc} with ${wantCode} and never writes past the promised length`, async () => {
        handler = serve;
        await expect(run()).rejects.toMatchObject({ code: wantCode });
        expect((await stat(slots.slotPath('b'))).size).toBeLessThanOrEqual(image.length);
        expect((await slots.readState()).slots.b).toBeNull();
        expect((await slots.readState()).active).toBe('a');
      });
    }
  });

  describe('when the server is busy', () => {
    it('asks again after its Retry-After, not at the backoff, and installs the image', async () => {
      let refused = 0;
      handler = (req, res) => {
        if (refused === 0) {
          refused += 1;
          const body = JSON.stringify({ error: { code: 'SERVER_BUSY', message: 'busy' } });
          res.writeHead(503, { 'retry-after': '1', 'content-length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        serveFrom(req, res, image);
      };
      const started = performance.now();
      // Its own backoff would wait 1-5 ms; the server asked for 1 s.
      await run(0, { retryMaxDelayMs: 2000 });
      expect(performance.now() - started).toBeGreaterThanOrEqual(950);
      expect(refused).toBe(1);
      expect(await readFile(slots.slotPath('b'))).toEqual(image);
    });
  });

  describe.each([false, true])('when the image is large (sha512Worker %s)', (sha512Worker) => {
    it('installs it, and refuses it when one byte differs', async () => {
      const config = { ...baseConfig, sha512Worker };
      const [big, bigExpected] = randomImage(5 * 1024 * 1024 + 3);
      handler = (req, res) => serveFrom(req, res, big);
      const run = () =>
        streamIntoSlot({ url, slots, slot: 'b', expected: bigExpected, dispatcher, config });
      await run();
      expect(await readFile(slots.slotPath('b'))).toEqual(big);
      await expect(
        streamIntoSlot({
          url,
          slots,
          slot: 'b',
          expected: { ...bigExpected, sha512: 'f'.repeat(128) },
          dispatcher,
          config,
        }),
      ).rejects.toMatchObject({ code: 'TARGET_MISMATCH' });
    });
  });

  describe.each([false, true])(
    'the sha512 read-back of the slot (sha512Worker %s)',
    (sha512Worker) => {
      it('throws READBACK_MISMATCH when the flash does not keep what was written', async () => {
        const config = { ...baseConfig, sha512Worker };
        const [big, bigExpected] = randomImage(5 * 1024 * 1024 + 3);
        handler = (req, res) => serveFrom(req, res, big);
        const corrupting: FileSlotStore = Object.create(slots) as FileSlotStore;
        let written = 0;
        corrupting.openForWrite = async (slot, opts) => {
          const w = await slots.openForWrite(slot, opts);
          return {
            ...w,
            write: (c) => {
              // One bit of the third MiB is stored flipped; the stream itself was intact.
              const at = 2 * 1024 * 1024 - written;
              written += c.length;
              if (at < 0 || at >= c.length) return w.write(c);
              const stored = Buffer.from(c);
              stored[at] = (stored[at] ?? 0) ^ 4;
              return w.write(stored);
            },
            readBack: (position, into) => w.readBack(position, into),
            sync: () => w.sync(),
            close: () => w.close(),
          };
        };
        await expect(
          streamIntoSlot({
            url,
            slots: corrupting,
            slot: 'b',
            expected: bigExpected,
            dispatcher,
            config,
          }),
        ).rejects.toMatchObject({ code: 'READBACK_MISMATCH' });
      });

      it('resumes a large image: the kept prefix is read back too', async () => {
        const config = { ...baseConfig, sha512Worker };
        const [big, bigExpected] = randomImage(6 * 1024 * 1024 + 11);
        const stored = 3 * 1024 * 1024 + 5;
        const resumeWith = async (prefix: Buffer) => {
          const w = await slots.openForWrite('b');
          await w.write(prefix);
          await w.close();
          const input = { url, slots, slot: 'b' as const, expected: bigExpected, dispatcher };
          return streamIntoSlot({ ...input, config, resumeFrom: stored });
        };
        handler = (req, res) => serveFrom(req, res, big);
        const result = await resumeWith(big.subarray(0, stored));
        expect(keptOf(stored)).toBeGreaterThan(0);
        expect(result.downloaded).toBe(big.length - keptOf(stored));
        expect(await readFile(slots.slotPath('b'))).toEqual(big);
        // A kept prefix that is not the image's is refused.
        await expect(resumeWith(Buffer.alloc(stored))).rejects.toMatchObject({
          code: 'TARGET_MISMATCH',
        });
      });
    },
  );

  describe('when the read-back worker cannot read the slot', () => {
    it('makes the same sha512 check on this thread and installs', async () => {
      const config = { ...baseConfig, sha512Worker: true };
      const [big, bigExpected] = randomImage(4 * 1024 * 1024 + 9);
      handler = (req, res) => serveFrom(req, res, big);
      const badFd: FileSlotStore = Object.create(slots) as FileSlotStore;
      badFd.openForWrite = async (slot, opts) => ({
        ...(await slots.openForWrite(slot, opts)),
        readBackFd: 2 ** 30,
      });
      await streamIntoSlot({
        url,
        slots: badFd,
        slot: 'b',
        expected: bigExpected,
        dispatcher,
        config,
      });
      expect(await readFile(slots.slotPath('b'))).toEqual(big);
      await expect(
        streamIntoSlot({
          url,
          slots: badFd,
          slot: 'b',
          expected: { ...bigExpected, sha512: 'e'.repeat(128) },
          dispatcher,
          config,
        }),
      ).rejects.toMatchObject({ code: 'TARGET_MISMATCH' });
    });
  });

  describe('when the slot does not read back what was written (a failing flash)', () => {
    it('throws READBACK_MISMATCH', async () => {
      handler = (req, res) => serveFrom(req, res, image);
      const flaky: FileSlotStore = Object.create(slots) as FileSlotStore;
      flaky.openForWrite = async (slot, opts) => {
        const w = await slots.openForWrite(slot, opts);
        return {
          ...w,
          startOffset: w.startOffset,
          write: (c) => w.write(c),
          sync: () => w.sync(),
          close: () => w.close(),
          readBack: async (position, into) => {
            const n = await w.readBack(position, into);
            if (position === 0 && n > 0) into[0] = (into[0] ?? 0) ^ 1;
            return n;
          },
        };
      };
      await expect(
        streamIntoSlot({ url, slots: flaky, slot: 'b', expected, dispatcher, config }),
      ).rejects.toMatchObject({ code: 'READBACK_MISMATCH' });
    });
  });

  describe('when the connection drops mid-download', () => {
    it('resumes with an HTTP Range request and gets the exact image', async () => {
      let first = true;
      handler = (req, res) => {
        if (first) {
          first = false;
          ranges.push(req.headers.range);
          res.writeHead(200, { 'content-length': image.length });
          res.write(image.subarray(0, 100_000), () => res.destroy());
          return;
        }
        serveFrom(req, res, image);
      };
      const result = await run();
      expect(result.resumes).toBe(1);
      expect(ranges[1]).toMatch(/^bytes=\d+-$/);
      expect(Number(/\d+/.exec(ranges[1] ?? '')?.[0])).toBeGreaterThan(0);
      await verifySlotReadback(slots, 'b', expected);
    });
  });

  describe('when resuming bytes left by an interrupted run', () => {
    const [long, longExpected] = randomImage(3 * 1024 * 1024 + 17);
    const resume = (resumeFrom: number) =>
      streamIntoSlot({
        url,
        slots,
        slot: 'b',
        expected: longExpected,
        dispatcher,
        config,
        resumeFrom,
      });
    const leave = async (bytes: Buffer) => {
      const w = await slots.openForWrite('b');
      await w.write(bytes);
      await w.close();
    };

    it('hashes the kept prefix and downloads only the rest', async () => {
      const stored = 2 * 1024 * 1024 + 5000;
      await leave(long.subarray(0, stored));
      handler = (req, res) => serveFrom(req, res, long);
      const result = await resume(stored);
      expect(result.downloaded).toBe(long.length - keptOf(stored));
      expect(ranges[0]).toBe(`bytes=${keptOf(stored)}-`);
      await verifySlotReadback(slots, 'b', longExpected);
    });

    it('does not keep the last blocks, which writes in flight may have left with a hole', async () => {
      // A kill while writes were in flight: the later block landed, the one before it did not.
      const stored = 2 * 1024 * 1024;
      const left = Buffer.from(long.subarray(0, stored));
      left.fill(0, stored - 768 * 1024, stored - 256 * 1024);
      await leave(left);
      handler = (req, res) => serveFrom(req, res, long);
      await resume(stored);
      expect(await readFile(slots.slotPath('b'))).toEqual(long);
    });
  });
});
