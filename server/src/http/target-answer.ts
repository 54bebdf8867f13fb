import type { ServerResponse } from 'node:http';
import { ServerError } from '../error.js';
import { IMMUTABLE, ifNoneMatch } from './metadata-cache.js';
import { parseRange, type ByteRange } from './range.js';

/** A published image as served: its blob and its length. */
export interface ServedTarget {
  sha256: string;
  length: number;
}

/** The request headers a target answer depends on. */
export interface TargetRequest {
  method: string;
  ifNoneMatch: string | undefined;
  ifRange: string | undefined;
  range: string | undefined;
}

export type TargetAnswer =
  | {
      status: 200 | 206 | 304;
      headers: Record<string, string>;
      /** The bytes sent: undefined for the whole blob. */
      range: ByteRange | undefined;
      /** Whether bytes follow the headers (not for 304, HEAD or an empty blob). */
      hasBody: boolean;
    }
  | { status: 416; headers: Record<string, string>; error: ServerError };

/**
 * What `GET|HEAD /targets/...` answers for a resolved target, the same from the router and from
 * the in-memory fast path (pure: headers in, status and headers out). Targets are immutable and
 * named by their sha256, which is also their ETag.
 */
export function answerTarget(req: TargetRequest, target: ServedTarget): TargetAnswer {
  const { length } = target;
  const etag = `"${target.sha256}"`;
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Cache-Control': IMMUTABLE,
    'Accept-Ranges': 'bytes',
    ETag: etag,
  };
  if (ifNoneMatch(req.ifNoneMatch, etag))
    return { status: 304, headers, range: undefined, hasBody: false };
  let range: ByteRange | undefined;
  try {
    range =
      req.ifRange === undefined || req.ifRange === etag ? parseRange(req.range, length) : undefined;
  } catch (error) {
    if (error instanceof ServerError && error.code === 'RANGE_NOT_SATISFIABLE') {
      return {
        status: 416,
        headers: { 'Content-Range': `bytes */${length}`, 'Accept-Ranges': 'bytes' },
        error,
      };
    }
    throw error;
  }
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${length}`;
  headers['Content-Length'] = String(range ? range.end - range.start + 1 : length);
  return {
    status: range ? 206 : 200,
    headers,
    range,
    hasBody: req.method !== 'HEAD' && length > 0,
  };
}

/** Writes a 200, 206 or 304 answer whose bytes are in memory: one `end` with a view of them. */
export function writeTargetAnswer(
  res: ServerResponse,
  answer: Extract<TargetAnswer, { hasBody: boolean }>,
  bytes: Buffer,
): void {
  res.writeHead(answer.status, answer.headers);
  if (!answer.hasBody) {
    res.end();
    return;
  }
  const range = answer.range;
  res.end(range ? bytes.subarray(range.start, range.end + 1) : bytes);
}
