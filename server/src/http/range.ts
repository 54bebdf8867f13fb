import { ServerError } from '../error.js';

export interface ByteRange {
  start: number;
  end: number; // inclusive
}

/**
 * Parses a single-range `Range: bytes=...` header (RFC 9110 14.2). Returns
 * undefined when the header is absent or not a bytes range we serve partially
 * (multi-range: full response is allowed by the RFC). Throws
 * RANGE_NOT_SATISFIABLE for ranges outside the representation.
 */
export function parseRange(header: string | undefined, length: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first.length > 15 || last.length > 15)
    throw new ServerError('RANGE_NOT_SATISFIABLE', 'range out of bounds');
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || length === 0)
      throw new ServerError('RANGE_NOT_SATISFIABLE', 'empty suffix range');
    return { start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(first);
  const end = last === '' ? length - 1 : Math.min(Number(last), length - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= length)
    throw new ServerError('RANGE_NOT_SATISFIABLE', `range starts beyond ${length} bytes`);
  return { start, end };
}
