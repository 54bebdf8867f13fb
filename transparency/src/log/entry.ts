import { canonicalize } from '@tufjs/canonical-json';
import { TransparencyError } from '../error.js';
import type { ChainReceipt } from '../chain/types.js';
import { campaignLogEntrySchema, type CampaignLogEntry } from '../wire/campaign.js';
import { directorTargetsLogEntrySchema, type DirectorTargetsLogEntry } from '../wire/director.js';

/** A release statement: what the chain's ReleaseLogged event says, mirrored in the log. */
export interface ReleaseLogEntry {
  type: 'release';
  metadataVersion: number;
  metadataHash: string;
  firmware: { digest: string; hardwareId: string; version: number }[];
  chain?: ChainReceipt;
}

/** An install attestation (Sigstore bundle); the vehicle appears only as a salted commitment. */
export interface InstallLogEntry {
  type: 'install-attestation';
  bundle: unknown;
}

export interface RecallLogEntry {
  type: 'recall';
  subject: string;
  reason: string;
}

export type LogEntryDocument =
  ReleaseLogEntry | InstallLogEntry | RecallLogEntry | DirectorTargetsLogEntry | CampaignLogEntry;

// OLPC canonical JSON escapes only quotes and backslashes: a control character or a lone
// surrogate in a string comes out raw, which is not JSON (and a lone surrogate is not UTF-8
// either). Outside strings the OLPC output holds neither, so escaping them afterwards is exact.
const NOT_JSON_TEXT =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// eslint-disable-next-line no-control-regex -- as above
const RAW_CONTROL = /[\u0000-\u001f]/g;
const escapeCodeUnit = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Canonical JSON as TUF uses it (OLPC: sorted keys, no whitespace, integers only), with control
 * characters and lone surrogates written as `\u` escapes so that the text is always valid JSON
 * and reads back exactly. Documents without them encode byte for byte as OLPC canonical JSON.
 */
export function canonicalJson(value: unknown): string {
  return canonicalize(value).replace(NOT_JSON_TEXT, escapeCodeUnit);
}

/**
 * Parses JSON text that may come from plain OLPC canonical JSON (raw control characters inside
 * strings, as written before `canonicalJson`); throws a SyntaxError when it is not JSON either way.
 */
export function parseCanonicalJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const repaired = text.replace(RAW_CONTROL, escapeCodeUnit);
    if (repaired === text) throw err;
    return JSON.parse(repaired);
  }
}

/** A VIN (ISO 3779): 17 characters, no I, O or Q. */
const VIN = /^[A-HJ-NPR-Z0-9]{17}$/i;

function scanForVin(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (VIN.test(value) && /[0-9]/.test(value) && /[A-Z]/i.test(value)) {
      throw new TransparencyError(
        'PERSONAL_DATA_REJECTED',
        `${path} looks like a VIN; log a salted commitment instead`,
      );
    }
    return;
  }
  if (Array.isArray(value)) value.forEach((v, i) => scanForVin(v, `${path}[${i}]`));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) scanForVin(v, `${path}.${k}`);
  }
}

function decodedDssePayload(bundle: unknown): unknown {
  const payload = (bundle as { dsseEnvelope?: { payload?: unknown } } | null)?.dsseEnvelope
    ?.payload;
  if (typeof payload !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The leaf input of an entry: `canonicalJson` of the document (OLPC canonical JSON, as TUF uses,
 * always valid JSON). Refuses
 * anything that looks like a VIN in clear, including inside an attestation's signed payload.
 */
export function encodeLogEntry(doc: LogEntryDocument): Uint8Array {
  if (
    !doc ||
    typeof doc !== 'object' ||
    !['release', 'install-attestation', 'recall', 'director-targets', 'campaign'].includes(doc.type)
  ) {
    throw new TransparencyError('MALFORMED_ENTRY', 'unknown log entry type');
  }
  if (doc.type === 'director-targets' && !directorTargetsLogEntrySchema.safeParse(doc).success) {
    throw new TransparencyError('MALFORMED_ENTRY', 'director-targets entry outside the profile');
  }
  if (doc.type === 'campaign' && !campaignLogEntrySchema.safeParse(doc).success) {
    throw new TransparencyError('MALFORMED_ENTRY', 'campaign entry outside the profile');
  }
  scanForVin(doc, 'entry');
  if (doc.type === 'install-attestation')
    scanForVin(decodedDssePayload(doc.bundle), 'entry.bundle.payload');
  try {
    return new Uint8Array(Buffer.from(canonicalJson(doc)));
  } catch (err) {
    throw new TransparencyError('MALFORMED_ENTRY', 'entry is not canonical-JSON encodable', {
      cause: err,
    });
  }
}

/**
 * An entry encodeLogEntry checked and encoded, to append as it is: a route that checks an entry
 * before storing anything (PERSONAL_DATA_REJECTED) and then appends it encodes it once. Only this
 * module makes one, so a log can tell it from a document by `EncodedLogEntry.is`.
 */
export class EncodedLogEntry {
  readonly #checked = true;
  readonly kind: LogEntryDocument['type'];
  readonly data: Uint8Array;

  private constructor(kind: LogEntryDocument['type'], data: Uint8Array) {
    this.kind = kind;
    this.data = data;
  }

  static of(doc: LogEntryDocument): EncodedLogEntry {
    return new EncodedLogEntry(doc.type, encodeLogEntry(doc));
  }

  /**
   * An install report's entry, and the canonical JSON of its bundle that the entry holds: the
   * entry is `{"bundle":<bundleJson>,"type":"install-attestation"}`, which is what canonicalJson
   * writes for it (sorted keys, no whitespace), so the bundle is canonicalised once.
   */
  static installAttestation(bundle: unknown): { entry: EncodedLogEntry; bundleJson: string } {
    if (bundle === undefined) throw new TransparencyError('MALFORMED_ENTRY', 'no bundle');
    scanForVin(bundle, 'entry.bundle');
    scanForVin(decodedDssePayload(bundle), 'entry.bundle.payload');
    let bundleJson: string;
    try {
      bundleJson = canonicalJson(bundle);
    } catch (err) {
      throw new TransparencyError('MALFORMED_ENTRY', 'entry is not canonical-JSON encodable', {
        cause: err,
      });
    }
    const data = Buffer.from(`{"bundle":${bundleJson},"type":"install-attestation"}`);
    return { entry: new EncodedLogEntry('install-attestation', new Uint8Array(data)), bundleJson };
  }

  static is(value: unknown): value is EncodedLogEntry {
    return typeof value === 'object' && value !== null && #checked in value;
  }
}

export function decodeLogEntry(data: Uint8Array): LogEntryDocument {
  try {
    return parseCanonicalJson(Buffer.from(data).toString('utf8')) as LogEntryDocument;
  } catch (err) {
    throw new TransparencyError('MALFORMED_ENTRY', 'entry is not JSON', { cause: err });
  }
}
