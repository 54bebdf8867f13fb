import { createHash } from 'node:crypto';
import { constants, zstdDecompressSync } from 'node:zlib';
import { TransparencyError } from '../error.js';
import {
  DELTA_HEADER_BYTES,
  DELTA_WINDOW_LOG,
  DeltaOpParser,
  decodeDeltaHeader,
} from './format.js';

/**
 * Rebuilds the target in memory (server-side checks, tests, benchmarks; the vehicle streams
 * instead: client-agent/src/install/delta-source.ts). Checks the base and the result against the
 * header's sha256: DELTA_MALFORMED when either differs or the delta does not parse.
 */
export function applyDelta(base: Uint8Array, delta: Uint8Array): Buffer {
  const header = decodeDeltaHeader(delta);
  if (base.length !== header.base.length || sha256(base) !== header.base.sha256) {
    throw new TransparencyError('DELTA_MALFORMED', 'the base is not the image the delta is for');
  }
  let ops: Buffer;
  try {
    ops = zstdDecompressSync(delta.subarray(DELTA_HEADER_BYTES), {
      params: { [constants.ZSTD_d_windowLogMax]: DELTA_WINDOW_LOG },
    });
  } catch (err) {
    throw new TransparencyError('DELTA_MALFORMED', 'delta body is not a valid zstd frame', {
      cause: err,
    });
  }
  const out = Buffer.allocUnsafe(header.target.length);
  let at = 0;
  const parser = new DeltaOpParser(header);
  parser.feed(ops, (op) => {
    if (op.kind === 'copy') {
      out.set(base.subarray(op.offset, op.offset + op.length), at);
      at += op.length;
    } else {
      out.set(op.bytes, at);
      at += op.bytes.length;
    }
  });
  parser.finish();
  if (sha256(out) !== header.target.sha256) {
    throw new TransparencyError('DELTA_MALFORMED', 'the rebuilt image differs from the target');
  }
  return out;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
