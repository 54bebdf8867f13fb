import { Mutex } from '../../mutex.js';

/**
 * The seam that serializes every change to one repository's served metadata. In one process an
 * in-memory FIFO mutex does; with several replicas on a shared database, a database lock held for
 * the callback (a PostgreSQL advisory lock, say) implements the same interface.
 */
export interface PublishLock {
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/** The lock of a single server process. */
export function createProcessLock(): PublishLock {
  return new Mutex();
}
