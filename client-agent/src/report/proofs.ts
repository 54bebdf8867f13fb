import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  parseProofBundle,
  parseVerifierKey,
  verifyProofBundle,
  verifyProofBundleOffline,
  type AnchorLookup,
  type NoteVerifier,
  type ProofBundle,
} from '@tufchain/transparency/proof-bundle';
import type { Dispatcher } from 'undici';
import { AgentError } from '../error.js';
import { writeJsonDurable } from '../util/durable.js';
import { answerLimits, fetchBounded, toDownloadError } from '../util/retrieval.js';
import type { AnswerConfig, ReportOutbox } from './outbox.js';

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
 * How the agent checks a proof bundle before it keeps it: the pinned log key(s) as C2SP verifier
 * keys (`<name>+<keyhash>+<base64>`), the checkpoint origin, and the chain (a ChainReader) for
 * the online check of the anchor (quorum, confirmations).
 */
export interface ProofVerification {
  logKeys: readonly string[];
  origin?: string;
  chain?: AnchorLookup;
}

/** Whether `x` can look up anchors (ChainReader can; a bare ReleaseLog double may not). */
export function isAnchorLookup(x: unknown): x is AnchorLookup {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { findCheckpointAnchor?: unknown }).findCheckpointAnchor === 'function' &&
    typeof (x as { contractAddress?: unknown }).contractAddress === 'string'
  );
}

function dsseOf(bundle: unknown): string {
  const env = (bundle as { dsseEnvelope?: { payload?: unknown; signatures?: { sig?: unknown }[] } })
    ?.dsseEnvelope;
  return JSON.stringify([env?.payload, env?.signatures?.map((s) => s.sig)]);
}

/**
 * Offline: signed by a pinned log key, entry included under the checkpoint, and the entry is
 * exactly this report (same DSSE payload and signatures). Then online against the chain when
 * `verify.chain` is given. Throws TransparencyError (or PROOF_BUNDLE_MISMATCH for another entry).
 */
async function verifyForReport(
  bundle: ProofBundle,
  report: unknown,
  verify: ProofVerification,
  verifiers: readonly NoteVerifier[],
): Promise<void> {
  const trust = { logVerifiers: verifiers, ...(verify.origin ? { origin: verify.origin } : {}) };
  const { entry } = verifyProofBundleOffline(bundle, trust);
  if (entry.type !== 'install-attestation' || dsseOf(entry.bundle) !== dsseOf(report)) {
    throw Object.assign(new Error('the proof bundle is for another log entry'), {
      code: 'PROOF_BUNDLE_MISMATCH',
    });
  }
  if (verify.chain) await verifyProofBundle(bundle, { ...trust, chain: verify.chain });
}

/**
 * Asks `<serverUrl>/api/v1/log/proof-bundle?index=N` for the proof bundle of log entry N, reading
 * at most `answerMaxLength` bytes within the slow-retrieval limits. Undefined while the server has
 * none (404 NOT_ANCHORED until the entry is anchored, or any other non-200). Throws AgentError:
 * ENDLESS_DATA, DOWNLOAD_TOO_SLOW, DOWNLOAD_TIMEOUT, DOWNLOAD_FAILED, or BUNDLE_INVALID when the
 * answer is not a proof bundle for entry N.
 */
export async function fetchProofBundle(
  serverUrl: string,
  index: number,
  opts: { dispatcher?: Dispatcher | undefined; limits: AnswerConfig },
): Promise<ProofBundle | undefined> {
  const url = `${serverUrl.replace(/\/+$/, '')}/api/v1/log/proof-bundle?index=${index}`;
  let text: string;
  try {
    const res = await fetchBounded(url, {
      dispatcher: opts.dispatcher,
      maxBytes: opts.limits.answerMaxLength,
      limits: answerLimits(opts.limits),
    });
    if (res.statusCode !== 200) return undefined;
    text = res.body.toString('utf8');
  } catch (err) {
    throw toDownloadError(err, `GET ${url}`);
  }
  let bundle: ProofBundle;
  try {
    bundle = parseProofBundle(JSON.parse(text) as unknown);
  } catch (err) {
    throw new AgentError('BUNDLE_INVALID', `${url} is not a proof bundle`, { cause: err });
  }
  if (bundle.entry.index !== index) {
    throw new AgentError('BUNDLE_INVALID', `${url} answered entry ${bundle.entry.index}`);
  }
  return bundle;
}

/**
 * For every sent report whose receipt promised a log index and that has no proof yet, asks
 * `<serverUrl>/api/v1/log/proof-bundle?index=N`; stores the bundle once the log entry is
 * anchored (404 NOT_ANCHORED until then). With `verify`, the bundle is kept only once it
 * verifies offline against the pinned log key and then against the chain; a bundle that does
 * not verify is kept nowhere and asked for again next cycle. Never throws: a failure to fetch or
 * verify leaves the report (and its receipt with the inclusion promise) as it was.
 * Returns the ids that got a proof now.
 */
export async function collectInclusionProofs(
  outbox: ReportOutbox,
  serverUrl: string,
  dispatcher?: Dispatcher,
  verify?: ProofVerification,
): Promise<string[]> {
  let verifiers: NoteVerifier[];
  try {
    verifiers = (verify?.logKeys ?? []).map((k) => parseVerifierKey(k));
  } catch {
    return []; // a misconfigured key never blocks updates; nothing is stored unverified
  }
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
      const bundle = await fetchProofBundle(serverUrl, index, {
        dispatcher,
        limits: outbox.limits,
      });
      if (!bundle) continue;
      if (verify) await verifyForReport(bundle, await outbox.get(id), verify, verifiers);
      await writeJsonDurable(join(outbox.dir, 'proofs', `${id}.json`), bundle);
      got.push(id);
    } catch {
      // offline, not anchored yet or not verifiable now: try again on the next cycle
    }
  }
  return got;
}
