// The fetch phase of the metadata history audit: the only part that talks to the source. It
// returns plain data (bytes, or the error in their place) and reports nothing; the checks do.
import { sha256Hex } from '../../util/hex.js';
import type { AuditSource } from '../source.js';
import type { Fetched, SnapshotFile } from './model.js';

const FETCH_CONCURRENCY = 8;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>) {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function settle(read: () => Promise<Uint8Array>): Promise<Fetched> {
  try {
    return { bytes: await read() };
  } catch (error) {
    return { error };
  }
}

/** Every snapshot version the source has served, once each, oldest first. */
export async function fetchServedVersions(source: AuditSource): Promise<number[]> {
  return [...new Set(await source.snapshotVersions())].sort((a, b) => a - b);
}

/** Every served snapshot, hashed. Snapshots are small: all of them, to find where logging began. */
export async function fetchSnapshots(
  source: AuditSource,
  served: readonly number[],
): Promise<SnapshotFile[]> {
  const fetched = await mapLimit(served, FETCH_CONCURRENCY, (v) =>
    settle(() => source.metadata('snapshot', v)),
  );
  return served.map((version, i) => {
    const f = fetched[i]!;
    return { version, fetched: f, hash: 'bytes' in f ? sha256Hex(f.bytes) : undefined };
  });
}

/** The given role versions, in order. */
export function fetchRoleFiles(
  source: AuditSource,
  wanted: readonly (readonly [role: string, version: number])[],
): Promise<Fetched[]> {
  return mapLimit(wanted, FETCH_CONCURRENCY, ([role, v]) => settle(() => source.metadata(role, v)));
}

/** The timestamp served now; undefined when the source does not serve one. */
export async function fetchTimestamp(source: AuditSource): Promise<Fetched | undefined> {
  return source.timestamp ? settle(() => source.timestamp!()) : undefined;
}
