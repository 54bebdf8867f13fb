import { encodeLogEntry, TransparencyError, type LogEntryDocument } from '@tufchain/transparency';
import { ServerError } from '../error.js';

/**
 * Refuses, before anything is stored or signed, an entry the log would refuse for looking like
 * it holds a VIN in clear: PERSONAL_DATA_REJECTED (422), never a 500 after the fact.
 */
export function assertLoggable(doc: LogEntryDocument): void {
  try {
    encodeLogEntry(doc);
  } catch (error) {
    if (error instanceof TransparencyError && error.code === 'PERSONAL_DATA_REJECTED') {
      throw new ServerError('PERSONAL_DATA_REJECTED', error.message, { cause: error });
    }
    throw error;
  }
}
