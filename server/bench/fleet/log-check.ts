/**
 * Which install attestations the replicas' transparency logs hold, read through the public log API
 * (`GET /api/v1/log/entries`). Today each replica keeps a log of its own; once they share one, every
 * replica serves the same entries. Both cases count right: replicas whose entries are the same
 * (one a prefix of the other, read a moment apart) are one log, counted once, and an attestation
 * appended twice to one log, or to two logs, counts twice.
 */
import { decodeLogEntry } from '@tufchain/transparency';
import { request } from 'undici';
import { reportKeyOf } from './simulator.js';

const PAGE = 1000;

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** The log's size: the largest n for which the empty range [n, n) is inside it. */
async function logSize(baseUrl: string): Promise<number> {
  const inside = async (n: number): Promise<boolean> => {
    const { status, body } = await getJson(
      `${baseUrl}/api/v1/log/entries?start=${n.toString()}&end=${n.toString()}`,
    );
    if (status === 200) return true;
    if (status === 400) return false;
    throw new Error(
      `GET ${baseUrl}/api/v1/log/entries: ${status.toString()} ${JSON.stringify(body)}`,
    );
  };
  let high = 1;
  while (await inside(high)) high *= 2;
  let low = high / 2; // inside (or 0.5 when the log is empty)
  if (low < 1) return 0;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await inside(mid)) low = mid;
    else high = mid;
  }
  return low;
}

/** Every entry of a replica's log, base64 leaf inputs in order. */
export async function readLogEntries(baseUrl: string): Promise<string[]> {
  const size = await logSize(baseUrl);
  const entries: string[] = [];
  for (let start = 0; start < size; start += PAGE) {
    const end = Math.min(size, start + PAGE);
    const { status, body } = await getJson(
      `${baseUrl}/api/v1/log/entries?start=${start.toString()}&end=${end.toString()}`,
    );
    if (status !== 200)
      throw new Error(`log entries [${start.toString()}, ${end.toString()}): ${status.toString()}`);
    entries.push(...(body as { entries: string[] }).entries);
  }
  return entries;
}

export interface LoggedAttestations {
  /** Distinct logs behind the replicas (2 while each keeps its own, 1 once they share one). */
  logs: number;
  /** Entries in those logs, all types. */
  entries: number;
  /** How often each install report (reportKeyOf) appears over all distinct logs. */
  counts: Map<string, number>;
}

const isPrefix = (short: readonly string[], long: readonly string[]): boolean =>
  short.every((e, i) => long[i] === e);

/** Reads every replica's log and counts install attestations over the distinct logs. */
export async function countLoggedAttestations(
  replicaUrls: readonly string[],
): Promise<LoggedAttestations> {
  const read = await Promise.all(replicaUrls.map(readLogEntries));
  // Longest first: a replica that read a shared log a moment earlier holds a prefix of it.
  const distinct: string[][] = [];
  for (const log of [...read].sort((a, b) => b.length - a.length)) {
    if (log.length === 0) continue;
    if (!distinct.some((d) => isPrefix(log, d))) distinct.push(log);
  }
  const counts = new Map<string, number>();
  let entries = 0;
  for (const log of distinct) {
    entries += log.length;
    for (const entry of log) {
      const doc = decodeLogEntry(Buffer.from(entry, 'base64')) as {
        type: string;
        bundle?: unknown;
      };
      if (doc.type !== 'install-attestation') continue;
      const key = reportKeyOf(doc.bundle);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return { logs: distinct.length, entries, counts };
}
