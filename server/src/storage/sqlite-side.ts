import { DatabaseSync } from 'node:sqlite';
import { ServerError } from '../error.js';

/**
 * A connection of its own to the repository's SQLite file, for a store beside SqliteStore (the
 * Director's, the fleet's, the campaigns'), with the same durability as SqliteStore's: every
 * commit fsync'd (synchronous is per connection). SqliteStore applies the migrations; this checks
 * that `migration` (the one that made the caller's tables) was applied.
 */
export function openSideConnection(path: string, migration: number, what: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA busy_timeout = 5000');
  if (!db.prepare('SELECT 1 FROM migrations WHERE id = ?').get(migration)) {
    db.close();
    throw new ServerError('STORAGE_FAILED', `the ${what} migration has not been applied`);
  }
  return db;
}
