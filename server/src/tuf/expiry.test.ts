import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestRepo,
  sha256Hex,
  uploadAndPublish,
  type TestRepo,
} from '../../test/support/fixtures.js';

const hour = 3600 * 1000;
const day = 24 * hour;

let t: TestRepo;
beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

const service = (): TestRepo['parts']['context']['service'] => t.parts.context.service;
const advance = (ms: number): void => {
  t.now.value = new Date(t.now.value.getTime() + ms);
};
async function servedTimestamp(): Promise<{ status: number; version?: number; expires?: string }> {
  const res = await t.parts.app.request('/metadata/timestamp.json');
  if (res.status !== 200) return { status: res.status };
  const md = (await res.json()) as { signed: { version: number; expires: string } };
  return { status: 200, version: md.signed.version, expires: md.signed.expires };
}

describe('refreshExpiring', () => {
  it('bumps nothing right after bootstrap (no role is born inside its window)', async () => {
    expect(await service().refreshExpiring()).toEqual([]);
    const status = await service().roleStatus();
    expect(status.map((r) => [r.role, r.version])).toEqual([
      ['root', 1],
      ['targets', 1],
      ['snapshot', 1],
      ['timestamp', 1],
      ['bins', 1],
      ['bins-*', 1],
    ]);
  });

  it('re-signs only the timestamp once it enters its window, exactly once', async () => {
    advance(19 * hour);
    expect(await service().refreshExpiring()).toEqual(['timestamp']);
    expect(await service().refreshExpiring()).toEqual([]);
    expect((await servedTimestamp()).version).toBe(2);
    expect(t.chain.entries).toHaveLength(1);
  });

  it('never double-bumps when many triggers race', async () => {
    advance(19 * hour);
    const results = await Promise.all(Array.from({ length: 8 }, () => service().refreshExpiring()));
    expect(results.flat()).toEqual(['timestamp']);
    expect((await servedTimestamp()).version).toBe(2);
  });

  it('re-signs snapshot and timestamp together when the snapshot enters its window', async () => {
    advance(5 * day + hour);
    expect(await service().refreshExpiring()).toEqual(['snapshot', 'timestamp']);
    const ts = (await (await t.parts.app.request('/metadata/timestamp.json')).json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    expect(ts.signed.meta['snapshot.json']?.version).toBe(2);
  });

  it('re-signs targets, bins and every hashed bin, empty ones too, in one snapshot logged on chain before it is served', async () => {
    advance(61 * day);
    const bins = ['bins-0', 'bins-1', 'bins-2', 'bins-3'];
    expect(await service().refreshExpiring()).toEqual([
      'targets',
      'bins',
      ...bins,
      'snapshot',
      'timestamp',
    ]);
    expect(t.chain.entries.map((e) => e.metadataVersion)).toEqual([1, 2]);
    expect(t.chain.entries[1]?.firmware).toEqual([]);
    const snapshot = (await (await t.parts.app.request('/metadata/2.snapshot.json')).json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    expect(t.chain.entries[1]?.metadataHash).toBe(
      `0x${sha256Hex(await (await t.parts.app.request('/metadata/2.snapshot.json')).bytes())}`,
    );
    for (const role of ['targets', 'bins', ...bins]) {
      expect(snapshot.signed.meta[`${role}.json`]?.version).toBe(2);
      const res = await t.parts.app.request(`/metadata/2.${role}.json`);
      const md = (await res.json()) as { signed: { expires: string } };
      expect(Date.parse(md.signed.expires)).toBeGreaterThan(t.now.value.getTime() + 60 * day);
    }
    expect(await service().refreshExpiring()).toEqual([]);
  });

  it('keeps released targets when re-signing their bin', async () => {
    expect((await uploadAndPublish(t, { name: 'a.bin' })).status).toBe(201);
    const before = await service().findTarget('a.bin');
    advance(61 * day);
    await service().refreshExpiring();
    const after = await service().findTarget('a.bin');
    expect(after?.role).toBe(before?.role);
    expect(after?.file.equals(before!.file)).toBe(true);
    const bin = (await (await t.parts.app.request(`/metadata/3.${after!.role}.json`)).json()) as {
      signed: { targets: Record<string, unknown> };
    };
    expect(Object.keys(bin.signed.targets)).toContain('a.bin');
  });
});

describe('serving timestamp.json', () => {
  it('re-signs on demand instead of serving an expired timestamp', async () => {
    advance(2 * day);
    const ts = await servedTimestamp();
    expect(ts.status).toBe(200);
    expect(Date.parse(ts.expires!)).toBeGreaterThan(t.now.value.getTime());
  });

  it('answers 503 METADATA_EXPIRED rather than serve expired metadata it cannot re-sign', async () => {
    advance(91 * day);
    t.chain.failNext = new Error('chain down');
    const res = await t.parts.app.request('/metadata/timestamp.json');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('METADATA_EXPIRED');
    // once the chain is back, the next request re-signs and serves fresh metadata
    const again = await servedTimestamp();
    expect(again.status).toBe(200);
    expect(Date.parse(again.expires!)).toBeGreaterThan(t.now.value.getTime());
  });
});

describe('expiry timestamps', () => {
  it('are written without fractional seconds, as python-tuf and go-tuf parse them', async () => {
    const md = (await (await t.parts.app.request('/metadata/1.root.json')).json()) as {
      signed: { expires: string };
    };
    expect(md.signed.expires).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});
