import type { AnchoredCheckpoint, LoggedRelease } from '../chain/types.js';
import { canonicalize } from '@tufjs/canonical-json';
import { canonicalJson, decodeLogEntry, type ReleaseLogEntry } from '../log/entry.js';
import type { CampaignLogEntry } from '../wire/campaign.js';
import { campaignEntryOfLeaf } from './campaigns.js';
import { CompactRange } from '../merkle/compact-range.js';
import { hashLeaf } from '../merkle/hash.js';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { bytesToHex } from '../util/hex.js';
import { loggedDirectorTargetsSchema, type LoggedDirectorTargets } from './director.js';
import type { LogAuditSource } from './log-source.js';
import type { AuditFindingCode } from './finding-code.js';
import type { AuditFinding } from './source.js';

export interface LogAuditInput {
  source: LogAuditSource;
  verifiers: readonly NoteVerifier[];
  origin?: string;
  anchors: readonly AnchoredCheckpoint[];
  releases: readonly LoggedRelease[];
  /** Install bundles to locate in the log. */
  attestations: readonly unknown[];
  /** Their leaf hashes, if the caller already computed them (see `installLeafHash`). */
  attestationLeafHashes?: readonly Uint8Array[];
  report: (f: AuditFinding) => void;
  pageSize?: number;
}

export interface LogAuditOutput {
  size: number;
  checkpointsVerified: number;
  anchorsVerified: number;
  /** Log index of each given attestation, or undefined when it is not in the log. */
  attestationIndexes: (number | undefined)[];
  /** The verified checkpoint notes by size. */
  checkpoints: Map<number, string>;
  /** Every `director-targets` entry by index (the Director's log promise, UPTANE.md). */
  directorTargets: Map<number, LoggedDirectorTargets>;
  /** Every `campaign` entry, in log order (campaigns.ts). */
  campaigns: CampaignLogEntry[];
}

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');

/** The leaf hash an install attestation has in the log (undefined when it cannot be encoded). */
export function installLeafHash(bundle: unknown): Uint8Array | undefined {
  return installLeafHashes(bundle)[0];
}

/**
 * The leaf hashes an install attestation may have in the log: as logs write it now, and, when it
 * holds control characters, as logs wrote it before they were escaped (plain OLPC canonical JSON).
 */
export function installLeafHashes(bundle: unknown): Uint8Array[] {
  const doc = { type: 'install-attestation', bundle };
  try {
    const current = canonicalJson(doc);
    const legacy = canonicalize(doc);
    return [current, ...(legacy === current ? [] : [legacy])].map((text) =>
      hashLeaf(Buffer.from(text)),
    );
  } catch {
    return [];
  }
}
const RELEASE_SUFFIX = Buffer.from('"type":"release"}');
// Canonical JSON sorts keys: a director-targets entry is the only type whose first is correlationId.
const DIRECTOR_PREFIX = Buffer.from('{"correlationId":');

/**
 * Replays the whole log once in O(log n) memory: every signed checkpoint must be the root of the
 * replayed entries at its size (so all checkpoints are consistent from first to last), every
 * chain anchor must be one of those roots, every release entry must be on chain, and every
 * attestation must be in the log.
 */
export async function auditLog(input: LogAuditInput): Promise<LogAuditOutput> {
  const { report } = input;
  const error = (code: AuditFindingCode, message: string, subject?: string) =>
    report(
      subject === undefined
        ? { code, severity: 'error', message }
        : { code, severity: 'error', message, subject },
    );

  const checkpoints = new Map<number, { cp: Checkpoint; note: string }>();
  for (const note of await input.source.checkpoints()) {
    try {
      const cp = openCheckpoint(note, input.verifiers, input.origin);
      const prev = checkpoints.get(cp.size);
      if (prev && b64(prev.cp.rootHash) !== b64(cp.rootHash)) {
        error(
          'CHECKPOINT_INCONSISTENT',
          `two signed checkpoints of size ${cp.size} with different roots`,
          `checkpoint:${cp.size}`,
        );
      }
      checkpoints.set(cp.size, { cp, note });
    } catch (err) {
      error(
        'CHECKPOINT_SIGNATURE_INVALID',
        `a checkpoint does not verify: ${(err as Error).message}`,
      );
    }
  }
  const targetSize = Math.max(0, ...checkpoints.keys(), ...input.anchors.map((a) => a.size));

  const wanted = new Map<string, number>();
  input.attestations.forEach((bundle, i) => {
    const given = input.attestationLeafHashes?.[i];
    for (const leaf of given ? [given] : installLeafHashes(bundle)) wanted.set(b64(leaf), i);
  });
  const attestationIndexes: (number | undefined)[] = input.attestations.map(() => undefined);
  const releaseHashes = new Set(
    input.releases.map((r) => `${r.metadataVersion}:${r.metadataHash}`),
  );
  const anchorsBySize = new Map(input.anchors.map((a) => [a.size, a]));

  const directorTargets = new Map<number, LoggedDirectorTargets>();
  const campaigns: CampaignLogEntry[] = [];
  const range = new CompactRange();
  let checkpointsVerified = 0;
  let anchorsVerified = 0;
  const checkAt = (size: number) => {
    const cp = checkpoints.get(size);
    const anchor = anchorsBySize.get(size);
    if (!cp && !anchor) return;
    const root = range.root();
    if (cp) {
      if (b64(cp.cp.rootHash) === b64(root)) checkpointsVerified++;
      else
        error(
          'CHECKPOINT_INCONSISTENT',
          `checkpoint ${size} is not the root of the log's first ${size} entries`,
          `checkpoint:${size}`,
        );
    }
    if (anchor) {
      if (anchor.rootHash === bytesToHex(root)) anchorsVerified++;
      else
        error(
          'ANCHOR_ROOT_MISMATCH',
          `the chain anchored a root at size ${size} that the log does not have`,
          `anchor:${size}`,
        );
    }
  };
  checkAt(0);
  const pageSize = input.pageSize ?? 10_000;
  let index = 0;
  while (index < targetSize) {
    const page = await input.source.entries(index, Math.min(targetSize, index + pageSize));
    if (page.length === 0) {
      error(
        'LOG_ENTRIES_MISSING',
        `the log serves ${index} entries, its checkpoints or anchors claim ${targetSize}`,
      );
      break;
    }
    for (const data of page) {
      const leaf = hashLeaf(data);
      range.appendLeafHash(leaf);
      if (wanted.size > 0) {
        const found = wanted.get(b64(leaf));
        if (found !== undefined) attestationIndexes[found] = index;
      }
      const tail = Buffer.from(
        data.buffer,
        data.byteOffset + Math.max(0, data.length - RELEASE_SUFFIX.length),
      );
      if (tail.equals(RELEASE_SUFFIX)) {
        const doc = decodeLogEntry(data) as ReleaseLogEntry;
        if (
          !releaseHashes.has(`${doc.metadataVersion}:${String(doc.metadataHash).toLowerCase()}`)
        ) {
          error(
            'LOG_RELEASE_NOT_ON_CHAIN',
            `log entry ${index} states release ${doc.metadataVersion} that the chain does not have`,
            `log:${index}`,
          );
        }
      }
      if (
        data.length > DIRECTOR_PREFIX.length &&
        Buffer.from(data.buffer, data.byteOffset, DIRECTOR_PREFIX.length).equals(DIRECTOR_PREFIX)
      ) {
        let doc: unknown;
        try {
          doc = decodeLogEntry(data);
        } catch {
          doc = undefined;
        }
        const parsed = loggedDirectorTargetsSchema.safeParse(doc);
        if (parsed.success) directorTargets.set(index, parsed.data);
      }
      const campaign = campaignEntryOfLeaf(data);
      if (campaign) campaigns.push(campaign);
      index++;
      checkAt(index);
    }
  }
  for (const a of input.anchors) {
    if (a.size > range.size)
      error(
        'LOG_BEHIND_ANCHOR',
        `the chain anchored size ${a.size}; the log serves only ${range.size}`,
        `anchor:${a.size}`,
      );
  }
  return {
    size: range.size,
    checkpointsVerified,
    anchorsVerified,
    attestationIndexes,
    checkpoints: new Map([...checkpoints].map(([k, v]) => [k, v.note])),
    directorTargets,
    campaigns,
  };
}
