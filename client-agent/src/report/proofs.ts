import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseProofBundle, type ProofBundle } from '@tufchain/transparency';
import { request, type Dispatcher } from 'undici';
import { writeJsonDurable } from '../util/durable.js';
import type { ReportOutbox } from './outbox.js';

/** The inclusion proof bundle stored for a report, once the server had anchored it. */
export async function storedInclusionProof(
  outbox: ReportOutbox,
  id: string,
): Promise<ProofBundle | undefined> {
  try {
    return parseProofBundle(
      JSON.parse(await readFile(join(outbox.dir, 'proofs', `${id}.json`), 'utf8')) as unknown,
    );
  } catch {
    return undefined;
  }
}

/**
 * For every sent report whose receipt promised a log index and that has no proof yet, asks
 * `<serverUrl>/api/v1/log/proof-bundle?index=N`; stores the bundle once the log entry is
 * anchored (404 NOT_ANCHORED until then). Returns the ids that got a proof now.
 */
export async function collectInclusionProofs(
  outbox: ReportOutbox,
  serverUrl: string,
  dispatcher?: Dispatcher,
): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(outbox.dir, 'receipts'));
  } catch {
    return [];
  }
  const got: string[] = [];
  for (const name of names.filter((n) => /^\d{12}-[0-9a-z]+\.json$/.test(n))) {
    const id = name.slice(0, -5);
    if (await storedInclusionProof(outbox, id)) continue;
    const receipt = (await outbox.receipt(id)) as { logIndex?: unknown } | undefined;
    const index = receipt?.logIndex;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) continue;
    try {
      const res = await request(
        `${serverUrl.replace(/\/+$/, '')}/api/v1/log/proof-bundle?index=${index}`,
        { method: 'GET', ...(dispatcher ? { dispatcher } : {}) },
      );
      const text = await res.body.text();
      if (res.statusCode !== 200) continue;
      const bundle = parseProofBundle(JSON.parse(text) as unknown);
      if (bundle.entry.index !== index) continue;
      await writeJsonDurable(join(outbox.dir, 'proofs', `${id}.json`), bundle);
      got.push(id);
    } catch {
      // offline or not anchored yet: try again on the next cycle
    }
  }
  return got;
}
