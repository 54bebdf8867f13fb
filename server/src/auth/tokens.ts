import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ServerError } from '../error.js';
import type { RepositoryStore, TokenRecord, TokenScope } from '../storage/store.js';

const tokenFormat = /^tct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Creates an API token; only its secret's sha256 is stored. Returns the token once. */
export async function createApiToken(
  store: RepositoryStore,
  opts: { name: string; scopes: TokenScope[] },
): Promise<{ id: string; token: string }> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await store.insertToken({
    id,
    name: opts.name,
    secretSha256: sha256(secret),
    scopes: [...new Set(opts.scopes)],
    createdAt: new Date().toISOString(),
    revoked: false,
  });
  return { id, token: `tct_${id}_${secret}` };
}

/** Resolves a bearer token to its record; throws UNAUTHENTICATED on anything else. */
export async function authenticateToken(
  store: RepositoryStore,
  header: string | undefined,
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
  if (!record || !match || record.revoked)
    throw new ServerError('UNAUTHENTICATED', 'invalid API token');
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
