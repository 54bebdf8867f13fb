import { canonicalize } from '@tufjs/canonical-json';
import { TransparencyError } from '../error.js';
import type { ChainReceipt } from '../chain/types.js';

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

export type LogEntryDocument = ReleaseLogEntry | InstallLogEntry | RecallLogEntry;

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
 * The leaf input of an entry: canonical JSON (OLPC, as TUF uses) of the document. Refuses
 * anything that looks like a VIN in clear, including inside an attestation's signed payload.
 */
export function encodeLogEntry(doc: LogEntryDocument): Uint8Array {
  if (
    !doc ||
    typeof doc !== 'object' ||
    !['release', 'install-attestation', 'recall'].includes(doc.type)
  ) {
    throw new TransparencyError('MALFORMED_ENTRY', 'unknown log entry type');
  }
  scanForVin(doc, 'entry');
  if (doc.type === 'install-attestation')
    scanForVin(decodedDssePayload(doc.bundle), 'entry.bundle.payload');
  try {
    return new Uint8Array(Buffer.from(canonicalize(doc as never)));
  } catch (err) {
    throw new TransparencyError('MALFORMED_ENTRY', 'entry is not canonical-JSON encodable', {
      cause: err,
    });
  }
}

export function decodeLogEntry(data: Uint8Array): LogEntryDocument {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as LogEntryDocument;
  } catch (err) {
    throw new TransparencyError('MALFORMED_ENTRY', 'entry is not JSON', { cause: err });
  }
}
