/**
 * Console sessions in the database (src/console/session-stores.ts), on the engine of the vitest
 * project: SQLite in `default`, a real PostgreSQL database in `server-postgres`. Two repositories
 * on one database stand for two replicas.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/auth/tokens.js';
import { ConsoleSessions, MAX_SESSIONS_PER_TOKEN } from '../src/console/session.js';
import { openRepository, type OpenedRepository } from '../src/storage/open.js';
import { newTestDatabaseUrl } from './support/database.js';

let dir: string;
let a: OpenedRepository;
let b: OpenedRepository;
let tokenId: string;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const later = (ms: number): Date => new Date(T0.getTime() + ms);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-console-sessions-'));
  const databaseUrl = await newTestDatabaseUrl();
  const open = () =>
    openRepository(databaseUrl === undefined ? { dataDir: dir } : { dataDir: dir, databaseUrl });
  a = await open();
  b = await open();
  tokenId = (await createApiToken(a.store, { name: 'auditor', scopes: ['audit'] })).id;
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('console sessions in the database', () => {
  it('resolves on one replica a session opened on the other, and logout on either ends it on both', async () => {
    const onA = new ConsoleSessions(a.consoleSessions, 60_000);
    const onB = new ConsoleSessions(b.consoleSessions, 60_000);
    const { cookie, expiresAt } = await onA.open(tokenId, T0);
    expect(expiresAt).toEqual(later(60_000));
    expect(await onB.resolve(cookie, later(1000))).toEqual({
      tokenId,
      expiresAt: T0.getTime() + 60_000,
    });
    await onB.close(cookie);
    expect(await onA.resolve(cookie, later(1000))).toBeUndefined();
  });

  it('stores only the sha256 of the cookie, never the cookie', async () => {
    const onA = new ConsoleSessions(a.consoleSessions, 60_000);
    const { cookie } = await onA.open(tokenId, T0);
    const digest = createHash('sha256').update(cookie).digest('hex');
    expect(await b.consoleSessions.session(digest)).toMatchObject({
      idSha256: digest,
      tokenId,
      createdAt: T0.toISOString(),
    });
    expect(await b.consoleSessions.session(cookie)).toBeUndefined();
    // A forged cookie of the right shape names no session; a malformed one is not looked up.
    expect(await onA.resolve('A'.repeat(43), T0)).toBeUndefined();
    expect(await onA.resolve(`${cookie}x`, T0)).toBeUndefined();
  });

  it('ends a session at its expiry, and purges expired rows', async () => {
    const onA = new ConsoleSessions(a.consoleSessions, 60_000);
    const { cookie } = await onA.open(tokenId, T0);
    const digest = createHash('sha256').update(cookie).digest('hex');
    expect(await onA.resolve(cookie, later(60_000))).toBeUndefined();
    expect(await a.consoleSessions.session(digest)).toBeUndefined();

    const stale = await onA.open(tokenId, T0);
    const staleDigest = createHash('sha256').update(stale.cookie).digest('hex');
    expect(await b.consoleSessions.deleteExpiredSessions(later(60_000).getTime())).toBeGreaterThan(
      0,
    );
    expect(await b.consoleSessions.session(staleDigest)).toBeUndefined();
  });

  it(`keeps at most ${MAX_SESSIONS_PER_TOKEN} sessions per token, dropping the oldest`, async () => {
    const onA = new ConsoleSessions(a.consoleSessions, 60_000);
    const cookies: string[] = [];
    for (let i = 0; i <= MAX_SESSIONS_PER_TOKEN; i++)
      cookies.push((await onA.open(tokenId, later(i))).cookie);
    expect(await onA.resolve(cookies[0], later(500))).toBeUndefined();
    expect(await onA.resolve(cookies[1], later(500))).toBeDefined();
    expect(await onA.resolve(cookies.at(-1), later(500))).toBeDefined();
  });

  it('refuses a session for a token the server does not have (the row references api_tokens)', async () => {
    await expect(
      a.consoleSessions.insertSession({
        idSha256: 'f'.repeat(64),
        tokenId: 'no-such-token',
        createdAt: T0.toISOString(),
        expiresAt: T0.getTime() + 1000,
      }),
    ).rejects.toThrow();
  });
});
