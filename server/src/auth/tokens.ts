import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ServerError } from '../error.js';
import type { RepositoryStore, TokenRecord, TokenScope } from '../storage/store.js';

const tokenFormat = /^tct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** How often a token's `lastUsedAt` is written at most: one write per minute, not per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface CreateApiTokenOptions {
  name: string;
  scopes: TokenScope[];
  /** Refused from this instant on (TOKEN_EXPIRED); omitted or null: never expires. */
  expiresAt?: Date | null;
  /** The creation time (default: now). */
  now?: Date;
}

/** What a token looks like to its administrators: never its secret, nor the secret's hash. */
export interface TokenView {
  id: string;
  name: string;
  scopes: TokenScope[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/** Creates an API token; only its secret's sha256 is stored. Returns the token once. */
export async function createApiToken(
  store: RepositoryStore,
  opts: CreateApiTokenOptions,
): Promise<{ id: string; token: string } & Omit<TokenView, 'lastUsedAt' | 'revokedAt' | 'status'>> {
  const now = opts.now ?? new Date();
  if (opts.expiresAt && opts.expiresAt.getTime() <= now.getTime()) {
    throw new ServerError('INVALID_REQUEST', 'expiresAt must be in the future');
  }
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    name: opts.name,
    secretSha256: sha256(secret),
    scopes: [...new Set(opts.scopes)],
    createdAt: now.toISOString(),
    expiresAt: opts.expiresAt ? opts.expiresAt.toISOString() : null,
    revokedAt: null,
    lastUsedAt: null,
  };
  await store.insertToken(record);
  return {
    id,
    token: `tct_${id}_${secret}`,
    name: record.name,
    scopes: record.scopes,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
  };
}

export function tokenView(record: TokenRecord, now: Date): TokenView {
  return {
    id: record.id,
    name: record.name,
    scopes: record.scopes,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
    status: record.revokedAt !== null ? 'revoked' : isExpired(record, now) ? 'expired' : 'active',
  };
}

function isExpired(record: TokenRecord, now: Date): boolean {
  return record.expiresAt !== null && now.getTime() >= Date.parse(record.expiresAt);
}

/**
 * Resolves a bearer token to its record; throws UNAUTHENTICATED for anything that is not a token
 * of this server, then TOKEN_REVOKED or TOKEN_EXPIRED (only once the secret matched, so neither
 * says anything about ids to someone without the secret). Records the use.
 */
export async function authenticateToken(
  store: RepositoryStore,
  header: string | undefined,
  now: Date = new Date(),
): Promise<TokenRecord> {
  const m = header === undefined ? null : /^Bearer ([^\s]+)$/.exec(header);
  const parts = m?.[1] ? tokenFormat.exec(m[1]) : null;
  if (!parts) throw new ServerError('UNAUTHENTICATED', 'a Bearer API token is required');
  const [, id = '', secret = ''] = parts;
  const record = await store.token(id);
  const presented = Buffer.from(sha256(secret), 'hex');
  // Compare even when the id is unknown so timing does not reveal which ids exist.
  const expected = Buffer.from(record?.secretSha256 ?? '0'.repeat(64), 'hex');
  const match = expected.length === presented.length && timingSafeEqual(expected, presented);
  if (!record || !match) throw new ServerError('UNAUTHENTICATED', 'invalid API token');
  if (record.revokedAt !== null)
    throw new ServerError('TOKEN_REVOKED', `API token ${id} was revoked at ${record.revokedAt}`);
  if (isExpired(record, now))
    throw new ServerError('TOKEN_EXPIRED', `API token ${id} expired at ${record.expiresAt}`);
  await store.touchToken(id, now.toISOString(), LAST_USED_RESOLUTION_MS);
  return record;
}

export function assertScope(token: TokenRecord, scope: TokenScope | 'any'): void {
  if (scope === 'any') return;
  if (!token.scopes.includes(scope) && !token.scopes.includes('admin')) {
    throw new ServerError('INSUFFICIENT_SCOPE', `this route needs the ${scope} scope`);
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
