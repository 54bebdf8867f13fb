import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import { createHttpAuditSource } from './http-source.js';

const URN = `urn:tufchain:campaign:${'1'.repeat(32)}`;
const member = (i: number) => i.toString(16).padStart(64, '0');

/** A server whose wave-members route answers from `answer(url)`; records what it was asked. */
function serverOf(answer: (url: URL) => Response) {
  const asked: { url: URL; authorization: string | null }[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    asked.push({ url, authorization: new Headers(init?.headers).get('authorization') });
    return Promise.resolve(answer(url));
  };
  return { fetch, asked };
}

describe('the HTTP audit source: campaign wave members', () => {
  it('is there only with an OEM token', () => {
    expect('campaignWaveMembers' in createHttpAuditSource('http://s.test')).toBe(false);
  });

  it('pages through the route with the token until nextAfter is null', async () => {
    const all = Array.from({ length: 5 }, (_, i) => member(i + 1));
    const { fetch, asked } = serverOf((url) => {
      const after = url.searchParams.get('after') ?? '';
      const page = all.filter((m) => m > after).slice(0, 2);
      const last = page.at(-1)!;
      return Response.json({
        campaign: URN,
        wave: 2,
        snapshotMemberCount: all.length,
        snapshotMembersSha256: 'a'.repeat(64),
        members: page,
        nextAfter: last === all.at(-1) ? null : last,
      });
    });
    const source = createHttpAuditSource('http://s.test/', { oemToken: 'tct_x', fetch });
    expect(await source.campaignWaveMembers!(URN, 2)).toEqual(all);
    expect(asked.map((a) => `${a.url.pathname}${a.url.search}`)).toEqual([
      `/api/v1/audit/campaigns/${encodeURIComponent(URN)}/waves/2/members`,
      `/api/v1/audit/campaigns/${encodeURIComponent(URN)}/waves/2/members?after=${member(2)}`,
      `/api/v1/audit/campaigns/${encodeURIComponent(URN)}/waves/2/members?after=${member(4)}`,
    ]);
    expect(asked.every((a) => a.authorization === 'Bearer tct_x')).toBe(true);
  });

  it('answers null for a wave the server does not know (404)', async () => {
    const { fetch } = serverOf(() => Response.json({ error: {} }, { status: 404 }));
    const source = createHttpAuditSource('http://s.test', { oemToken: 't', fetch });
    expect(await source.campaignWaveMembers!(URN, 1)).toBeNull();
  });

  it.each([
    ['a malformed page', () => Response.json({ members: ['VIN123'], nextAfter: null })],
    [
      'a page that does not move on',
      () => Response.json({ members: [member(1)], nextAfter: member(0) }),
    ],
    ['a refusal', () => Response.json({ error: {} }, { status: 403 })],
  ])('refuses %s with AUDIT_SOURCE_UNAVAILABLE', async (_, answer) => {
    const { fetch } = serverOf(answer);
    const source = createHttpAuditSource('http://s.test', { oemToken: 't', fetch });
    const error = await source.campaignWaveMembers!(URN, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransparencyError);
    expect((error as TransparencyError).code).toBe('AUDIT_SOURCE_UNAVAILABLE');
  });
});
