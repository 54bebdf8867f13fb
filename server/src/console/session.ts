import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A console login lasts a working day; after that the token is asked again. */
export const CONSOLE_SESSION_TTL_MS = 8 * 3_600_000;
/** Sessions kept at most per API token; its oldest goes first, so a login flood cannot grow the table. */
export const MAX_SESSIONS_PER_TOKEN = 100;
/** Expired sessions are purged at a login at most this often (a DELETE on an index). */
const PURGE_INTERVAL_MS = 60_000;

export const SESSION_COOKIE = 'tufchain_console';

export interface ConsoleSession {
  /** The API token that logged in: re-checked (revoked, expired) on every page. */
  tokenId: string;
  expiresAt: number;
}

/** A stored session: only the sha256 of its cookie, never the cookie. */
export interface ConsoleSessionRecord {
  idSha256: string;
  tokenId: string;
  createdAt: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * Where console sessions live: the repository's database (session-stores.ts), so that every
 * replica behind a load balancer resolves a session another opened; in memory for a server
 * without one (tests that build the app alone).
 */
export interface ConsoleSessionStore {
  /** Adds a session; drops the token's oldest beyond MAX_SESSIONS_PER_TOKEN. */
  insertSession(record: ConsoleSessionRecord): Promise<void>;
  session(idSha256: string): Promise<ConsoleSessionRecord | undefined>;
  deleteSession(idSha256: string): Promise<void>;
  /** Deletes every session expired at `nowMs`; returns how many. */
  deleteExpiredSessions(nowMs: number): Promise<number>;
}

/** Sessions in this process only (a single-process server, tests). */
export function memorySessionStore(): ConsoleSessionStore {
  const rows = new Map<string, ConsoleSessionRecord>();
  return {
    insertSession(record) {
      rows.set(record.idSha256, record);
      const mine = [...rows.values()].filter((r) => r.tokenId === record.tokenId);
      mine.sort((a, b) => a.expiresAt - b.expiresAt);
      for (const r of mine.slice(0, Math.max(0, mine.length - MAX_SESSIONS_PER_TOKEN)))
        rows.delete(r.idSha256);
      return Promise.resolve();
    },
    session: (idSha256) => Promise.resolve(rows.get(idSha256)),
    deleteSession(idSha256) {
      rows.delete(idSha256);
      return Promise.resolve();
    },
    deleteExpiredSessions(nowMs) {
      let n = 0;
      for (const [k, r] of rows)
        if (r.expiresAt <= nowMs) {
          rows.delete(k);
          n += 1;
        }
      return Promise.resolve(n);
    },
  };
}

/**
 * Opaque console sessions: the cookie is 32 random bytes and only their sha256 is stored, so
 * neither the token nor anything that opens a session is in the database or in memory dumps.
 */
export class ConsoleSessions {
  readonly #store: ConsoleSessionStore;
  readonly #ttlMs: number;
  #lastPurge = Number.NEGATIVE_INFINITY;

  constructor(
    store: ConsoleSessionStore = memorySessionStore(),
    ttlMs: number = CONSOLE_SESSION_TTL_MS,
  ) {
    this.#store = store;
    this.#ttlMs = ttlMs;
  }

  /** Opens a session for a token; returns the cookie value. */
  async open(tokenId: string, now: Date): Promise<{ cookie: string; expiresAt: Date }> {
    if (now.getTime() - this.#lastPurge >= PURGE_INTERVAL_MS) {
      this.#lastPurge = now.getTime();
      await this.#store.deleteExpiredSessions(now.getTime());
    }
    const cookie = randomBytes(32).toString('base64url');
    const expiresAt = now.getTime() + this.#ttlMs;
    await this.#store.insertSession({
      idSha256: digest(cookie),
      tokenId,
      createdAt: now.toISOString(),
      expiresAt,
    });
    return { cookie, expiresAt: new Date(expiresAt) };
  }

  /** The live session a cookie names, if any. */
  async resolve(cookie: string | undefined, now: Date): Promise<ConsoleSession | undefined> {
    if (cookie === undefined || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
    const key = digest(cookie);
    const row = await this.#store.session(key);
    // The lookup is by the digest of 256 random bits, which leaks nothing a guess could use;
    // the digest is still compared in constant time, as every secret here is.
    if (!row) return undefined;
    const stored = Buffer.from(row.idSha256, 'hex');
    const asked = Buffer.from(key, 'hex');
    if (stored.length !== asked.length || !timingSafeEqual(stored, asked)) return undefined;
    if (row.expiresAt <= now.getTime()) {
      await this.#store.deleteSession(key);
      return undefined;
    }
    return { tokenId: row.tokenId, expiresAt: row.expiresAt };
  }

  async close(cookie: string | undefined): Promise<void> {
    if (cookie !== undefined && /^[A-Za-z0-9_-]{43}$/.test(cookie))
      await this.#store.deleteSession(digest(cookie));
  }
}

function digest(cookie: string): string {
  return createHash('sha256').update(cookie).digest('hex');
}
