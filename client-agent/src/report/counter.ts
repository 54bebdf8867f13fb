import { join } from 'node:path';
import { AgentError } from '../error.js';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';

/**
 * The next value of the per-vehicle report counter. It is persisted durably before it is used, so
 * that no two reports ever carry the same counter, even across crashes (replay defence).
 */
export async function nextReportCounter(stateDir: string): Promise<number> {
  const path = join(stateDir, 'report-counter.json');
  let raw: unknown;
  try {
    raw = await readJsonIfExists(path);
  } catch (err) {
    throw new AgentError('STATE_CORRUPT', 'report counter is unreadable', { cause: err });
  }
  const last =
    raw === undefined
      ? 0
      : typeof raw === 'object' && raw !== null
        ? (raw as { last?: unknown }).last
        : NaN;
  if (typeof last !== 'number' || !Number.isSafeInteger(last) || last < 0) {
    throw new AgentError('STATE_CORRUPT', 'report counter is malformed');
  }
  const next = last + 1;
  await writeJsonDurable(path, { last: next });
  return next;
}
