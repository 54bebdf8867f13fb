import {
  EncodedLogEntry,
  encodeLogEntry,
  TransparencyError,
  type LogEntryDocument,
} from '@tufchain/transparency';
import { ServerError } from '../error.js';

function personalData(error: unknown): unknown {
  return error instanceof TransparencyError && error.code === 'PERSONAL_DATA_REJECTED'
    ? new ServerError('PERSONAL_DATA_REJECTED', error.message, { cause: error })
    : error;
}

/**
 * Refuses, before anything is stored or signed, an entry the log would refuse for looking like
 * it holds a VIN in clear: PERSONAL_DATA_REJECTED (422), never a 500 after the fact.
 */
export function assertLoggable(doc: LogEntryDocument): void {
  try {
    encodeLogEntry(doc);
  } catch (error) {
    throw personalData(error);
  }
}

/** assertLoggable for an install report, keeping the entry it encoded for the append. */
export function loggableInstallAttestation(
  bundle: unknown,
): ReturnType<typeof EncodedLogEntry.installAttestation> {
  try {
    return EncodedLogEntry.installAttestation(bundle);
  } catch (error) {
    throw personalData(error);
  }
}
