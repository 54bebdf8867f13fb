import { createHash, randomBytes } from 'node:crypto';

/** A console login lasts a working day; after that the token is asked again. */
export const CONSOLE_SESSION_TTL_MS = 8 * 3_600_000;
/** Sessions kept at most; the oldest goes first, so a login flood cannot grow memory. */
const MAX_SESSIONS = 10_000;

export const SESSION_COOKIE = 'tufchain_console';

export interface ConsoleSession {
  /** The API token that logged in: re-checked (revoked, expired) on every page. */
  tokenId: string;
  expiresAt: number;
}

/**
 * Opaque console sessions held in this process: the cookie is 32 random bytes and only their
 * sha256 is kept, so neither the token nor anything that opens a session is in server memory
 * dumps of the map. Replicas do not share them: behind a load balancer, pin the console.
 */
export class ConsoleSessions {
  readonly #byDigest = new Map<string, ConsoleSession>();
  readonly #ttlMs: number;

  constructor(ttlMs: number = CONSOLE_SESSION_TTL_MS) {
    this.#ttlMs = ttlMs;
  }

  /** Opens a session for a token; returns the cookie value. */
  open(tokenId: string, now: Date): { cookie: string; expiresAt: Date } {
    this.#prune(now.getTime());
    if (this.#byDigest.size >= MAX_SESSIONS) {
      const oldest = this.#byDigest.keys().next().value;
      if (oldest !== undefined) this.#byDigest.delete(oldest);
    }
    const cookie = randomBytes(32).toString('base64url');
    const expiresAt = now.getTime() + this.#ttlMs;
    this.#byDigest.set(digest(cookie), { tokenId, expiresAt });
    return { cookie, expiresAt: new Date(expiresAt) };
  }

  /** The live session a cookie names, if any. */
  resolve(cookie: string | undefined, now: Date): ConsoleSession | undefined {
    if (cookie === undefined || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
    const key = digest(cookie);
    const session = this.#byDigest.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= now.getTime()) {
      this.#byDigest.delete(key);
      return undefined;
    }
    return session;
  }

  close(cookie: string | undefined): void {
    if (cookie !== undefined) this.#byDigest.delete(digest(cookie));
  }

  #prune(now: number): void {
    for (const [key, s] of this.#byDigest) if (s.expiresAt <= now) this.#byDigest.delete(key);
  }
}

function digest(cookie: string): string {
  return createHash('sha256').update(cookie).digest('hex');
}
