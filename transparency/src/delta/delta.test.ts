import { createHash, randomBytes } from 'node:crypto';
import { constants, createZstdCompress, zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import { applyDelta } from './apply.js';
import {
  DELTA_HEADER_BYTES,
  DeltaOpParser,
  type DeltaOpHandler,
  decodeDeltaHeader,
  encodeDeltaHeader,
  OP_ADD,
  OP_COPY,
  OP_END,
  type DeltaHeader,
  type DeltaOp,
} from './format.js';
import { createDelta, diffOps } from './generate.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof TransparencyError) return err.code;
    throw err;
  }
  return undefined;
}

/** A delta whose body is the given (uncompressed) op bytes. */
function rawDelta(header: DeltaHeader, ops: number[]): Buffer {
  return Buffer.concat([encodeDeltaHeader(header), zstdCompressSync(Uint8Array.from(ops))]);
}

const edit = fc.oneof(
  fc.record({
    kind: fc.constant('replace'),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('insert'),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({ kind: fc.constant('delete'), at: fc.nat(), length: fc.nat({ max: 300 }) }),
);

interface Edit {
  kind: string;
  at: number;
  bytes?: Uint8Array;
  length?: number;
}

function applyEdits(base: Uint8Array, edits: Edit[]): Buffer {
  let out = Buffer.from(base);
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % out.length;
    if (e.kind === 'replace' && e.bytes) {
      const n = Math.min(e.bytes.length, out.length - at);
      out.set(e.bytes.subarray(0, n), at);
    } else if (e.kind === 'insert' && e.bytes) {
      out = Buffer.concat([out.subarray(0, at), e.bytes, out.subarray(at)]);
    } else {
      out = Buffer.concat([out.subarray(0, at), out.subarray(at + (e.length ?? 0))]);
    }
  }
  return out;
}

describe('createDelta and applyDelta', () => {
  it('rebuild the target for random edits, insertions and deletions of a base', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 6000 }),
        fc.array(edit, { maxLength: 12 }),
        fc.constantFrom(4, 16, 32),
        (base, edits, blockBytes) => {
          const target = applyEdits(base, edits);
          const delta = createDelta(base, target, { blockBytes, level: 3 });
          expect(applyDelta(base, delta).equals(target)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('stays small for a scattered change and for an insertion that shifts everything after it', () => {
    const base = randomBytes(1024 * 1024);
    const scattered = Buffer.from(base);
    for (let k = 1; k <= 20; k++) scattered[k * 50_000] = (scattered[k * 50_000] as number) ^ 0xff;
    const inserted = Buffer.concat([
      base.subarray(0, 1000),
      randomBytes(4096),
      base.subarray(1000),
    ]);
    expect(createDelta(base, scattered).length).toBeLessThan(DELTA_HEADER_BYTES + 400);
    expect(createDelta(base, inserted).length).toBeLessThan(DELTA_HEADER_BYTES + 4096 + 200);
  });

  it('reuses repeated base content without scanning every equal block (all zeros)', () => {
    const base = Buffer.alloc(4 * 1024 * 1024);
    const target = Buffer.alloc(4 * 1024 * 1024 + 7, 0);
    const delta = createDelta(base, target);
    expect(applyDelta(base, delta).equals(target)).toBe(true);
    expect(delta.length).toBeLessThan(DELTA_HEADER_BYTES + 64);
  });
});

describe('decodeDeltaHeader', () => {
  const header: DeltaHeader = {
    base: { length: 10, sha256: sha256(Buffer.from('a')) },
    target: { length: 2 ** 40, sha256: sha256(Buffer.from('b')) },
  };

  it('round-trips the base and target references', () => {
    expect(decodeDeltaHeader(encodeDeltaHeader(header))).toEqual(header);
  });

  it.each([
    {
      desc: 'a short header',
      tamper: (b: Buffer) => b.subarray(0, 40),
      wantCode: 'DELTA_TRUNCATED',
    },
    {
      desc: 'a wrong magic',
      tamper: (b: Buffer) => (b.write('X', 0), b),
      wantCode: 'DELTA_MALFORMED',
    },
    {
      desc: 'another version',
      tamper: (b: Buffer) => ((b[7] = 9), b),
      wantCode: 'DELTA_MALFORMED',
    },
    {
      desc: 'a length past 2^53',
      tamper: (b: Buffer) => (b.writeBigUInt64BE(2n ** 60n, 8), b),
      wantCode: 'DELTA_MALFORMED',
    },
  ])('refuses $desc with $wantCode', ({ tamper, wantCode }) => {
    expect(codeOf(() => decodeDeltaHeader(tamper(encodeDeltaHeader(header))))).toBe(wantCode);
  });
});

describe('applyDelta on a malformed delta', () => {
  const base = Buffer.from('0123456789abcdef0123456789abcdef');
  const target = Buffer.from('0123456789ABCDEF');
  const header: DeltaHeader = {
    base: { length: base.length, sha256: sha256(base) },
    target: { length: target.length, sha256: sha256(target) },
  };
  const good = [OP_COPY, 0, 10, OP_ADD, 6, ...Buffer.from('ABCDEF'), OP_END];

  it('accepts the well-formed op stream the table tampers with', () => {
    expect(applyDelta(base, rawDelta(header, good)).equals(target)).toBe(true);
  });

  it.each([
    {
      desc: 'a COPY past the base',
      ops: [OP_COPY, 60, 10, OP_ADD, 6, ...Buffer.from('ABCDEF'), OP_END],
    },
    { desc: 'a COPY before the base', ops: [OP_COPY, 1, 10, OP_END] },
    { desc: 'an empty COPY', ops: [OP_COPY, 0, 0, ...good] },
    { desc: 'an unknown op', ops: [0x07, ...good] },
    { desc: 'more bytes than the target', ops: [OP_COPY, 0, 20, OP_END] },
    { desc: 'fewer bytes than the target', ops: [OP_COPY, 0, 10, OP_END] },
    { desc: 'bytes after END', ops: [...good, OP_END] },
    {
      desc: 'an overlong varint',
      ops: [OP_ADD, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
    },
    {
      desc: 'other literal bytes',
      ops: [OP_COPY, 0, 10, OP_ADD, 6, ...Buffer.from('ABCDEX'), OP_END],
    },
  ])('refuses $desc with DELTA_MALFORMED', ({ ops }) => {
    expect(codeOf(() => applyDelta(base, rawDelta(header, ops)))).toBe('DELTA_MALFORMED');
  });

  it('refuses an op stream that stops before END with DELTA_TRUNCATED', () => {
    expect(codeOf(() => applyDelta(base, rawDelta(header, good.slice(0, 6))))).toBe(
      'DELTA_TRUNCATED',
    );
  });

  it("refuses a corrupted zstd body and a base that is not the header's", () => {
    const delta = createDelta(base, target);
    const flipped = Buffer.from(delta);
    flipped[flipped.length - 2] = (flipped[flipped.length - 2] as number) ^ 0x55;
    expect(codeOf(() => applyDelta(base, flipped))).toBe('DELTA_MALFORMED');
    expect(codeOf(() => applyDelta(Buffer.from(base).fill(1, 0, 1), delta))).toBe(
      'DELTA_MALFORMED',
    );
  });

  /** A streaming compressor does not know the size up front: the frame keeps its windowLog. */
  async function frameWithWindow(windowLog: number): Promise<Buffer> {
    const compressor = createZstdCompress({ params: { [constants.ZSTD_c_windowLog]: windowLog } });
    const parts: Buffer[] = [];
    compressor.on('data', (d: Buffer) => parts.push(d));
    const ended = new Promise((resolve) => compressor.on('end', resolve));
    compressor.end(Uint8Array.from(good));
    await ended;
    return Buffer.concat([encodeDeltaHeader(header), ...parts]);
  }

  it('refuses a zstd frame that asks for a window over 2 MiB', async () => {
    for (const windowLog of [22, 27]) {
      const delta = await frameWithWindow(windowLog);
      expect(codeOf(() => applyDelta(base, delta))).toBe('DELTA_MALFORMED');
    }
  });

  it('accepts the 1 MiB and 2 MiB windows that deltas made before 2026-12-06 ask for', async () => {
    for (const windowLog of [20, 21]) {
      expect(applyDelta(base, await frameWithWindow(windowLog)).equals(target)).toBe(true);
    }
  });
});

describe('DeltaOpParser', () => {
  it('gives the same ops whatever way the stream is split', () => {
    const base = randomBytes(3000);
    const target = Buffer.concat([base.subarray(0, 1200), randomBytes(500), base.subarray(1500)]);
    const ops = diffOps(base, target, 32);
    const header: DeltaHeader = {
      base: { length: base.length, sha256: sha256(base) },
      target: { length: target.length, sha256: sha256(target) },
    };
    fc.assert(
      fc.property(fc.array(fc.nat({ max: ops.length }), { maxLength: 20 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), ops.length];
        const parser = new DeltaOpParser(header);
        const out: Buffer[] = [];
        const emit = (op: DeltaOp): void => {
          out.push(
            op.kind === 'copy'
              ? base.subarray(op.offset, op.offset + op.length)
              : Buffer.from(op.bytes),
          );
        };
        for (let k = 1; k < points.length; k++) {
          parser.feed(ops.subarray(points[k - 1], points[k]), emit);
        }
        parser.finish();
        expect(Buffer.concat(out).equals(target)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('feedFrom stops after every op whose handler asks to wait, and resumes where it stopped', async () => {
    const base = randomBytes(3000);
    const target = Buffer.concat([base.subarray(0, 1200), randomBytes(500), base.subarray(1500)]);
    const ops = diffOps(base, target, 32);
    const header: DeltaHeader = {
      base: { length: base.length, sha256: sha256(base) },
      target: { length: target.length, sha256: sha256(target) },
    };
    const out: Buffer[] = [];
    let waits = 0;
    const handler: DeltaOpHandler = {
      copy: (offset, length) => {
        out.push(base.subarray(offset, offset + length));
        waits++;
        return Promise.resolve(); // every COPY asks the parser to stop
      },
      add: (chunk, start, end) => {
        out.push(Buffer.from(chunk.subarray(start, end)));
        return undefined;
      },
    };
    const parser = new DeltaOpParser(header);
    let stops = 0;
    // split in two so that an op header may straddle the chunks
    for (const chunk of [ops.subarray(0, 7), ops.subarray(7)]) {
      let at = 0;
      while (at < chunk.length) {
        at = parser.feedFrom(chunk, at, handler);
        const wait = parser.takeWait();
        if (wait) {
          stops++;
          await wait;
        }
      }
    }
    parser.finish();
    expect(Buffer.concat(out).equals(target)).toBe(true);
    expect(stops).toBe(waits);
    expect(parser.takeWait()).toBeUndefined();
  });
});
