/**
 * The full audit recomputes campaign waves: a real server (support/campaign-server.ts, releases
 * logged on anvil) runs a campaign of 3 waves, and the real audit over HTTP (`tufchain audit
 * --oem-token` with a read-only `audit` token) fetches the fleet snapshot of each logged wave start
 * (GET /api/v1/audit/campaigns/{urn}/waves/{wave}/members), recomputes every wave from the logged
 * salt, and finds a tampered membership out: a snapshot served other than the one logged, and a
 * vehicle assigned under the campaign outside its recomputed waves.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditRepository,
  createHttpAuditSource,
  createHttpLogAuditSource,
  createNoteVerifier,
  formatVerifierKey,
  runAuditCli,
  type AuditResult,
} from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import {
  HW,
  IMAGE,
  LOG_ORIGIN,
  startCampaignServer,
  until,
  type CampaignServer,
  type CampaignView,
} from './support/campaign-server.js';

const FLEET = 30;
const WAVES = [10, 40, 100];

let chain: TestChain;
let s: CampaignServer;
let auditToken = '';
let trustedRoot: unknown;
let campaign: CampaignView;

beforeAll(async () => {
  chain = await startTestChain();
  s = await startCampaignServer({ vehicles: FLEET, releaseLog: chain.writer() });
  auditToken = (await createApiToken(s.repo.store, { name: 'auditor', scopes: ['audit'] })).token;
  trustedRoot = await (await fetch(`${s.server.url}/metadata/1.root.json`)).json();
  const created = await s.call('POST', '/api/v1/campaigns', {
    body: {
      name: 'audited rollout',
      groupId: s.groupId,
      release: [{ hardwareId: HW, name: IMAGE.name }],
      waves: WAVES.map((percent) => ({ percent, minSoakSeconds: 0, successPercent: 0 })),
      failureThreshold: { percent: 50 },
    },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect((await s.call('POST', `/api/v1/campaigns/${created.body.id}/start`)).status).toBe(200);
  campaign = await until('the campaign finished', async () => {
    const got = await s.call('GET', `/api/v1/campaigns/${created.body.id}`);
    return got.body.state === 'finished' ? got.body : undefined;
  });
}, 180_000);

afterAll(async () => {
  await s?.close();
  await chain?.stop();
});

/** The real audit over HTTP, the log replayed; `fetch` stands for the server the auditor reaches. */
async function audit(
  opts: { token?: string | null; fetch?: typeof globalThis.fetch } = {},
): Promise<AuditResult> {
  await s.log.log.checkpoint();
  const token = opts.token === undefined ? auditToken : opts.token;
  return auditRepository({
    chain: chain.reader(),
    source: createHttpAuditSource(s.server.url, {
      ...(token === null ? {} : { oemToken: token }),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    }),
    trustedRoot,
    vehicleCaPem: s.vehicleCaPem,
    log: {
      source: createHttpLogAuditSource(s.server.url),
      verifiers: [createNoteVerifier(LOG_ORIGIN, s.noteKey)],
      origin: LOG_ORIGIN,
    },
  });
}

const codes = (r: AuditResult) => r.findings.map((f) => f.code);

describe('the auditors’ route of campaign wave snapshots', () => {
  const path = (wave: number, query = '') =>
    `/api/v1/audit/campaigns/${campaign.urn}/waves/${wave}/members${query}`;

  it('serves each wave’s snapshot to a read-only audit token: commitments and their digest only', async () => {
    const got = await s.call<Record<string, unknown>>('GET', path(1), { token: auditToken });
    expect(got.status).toBe(200);
    expect(Object.keys(got.body).sort()).toEqual([
      'campaign',
      'members',
      'nextAfter',
      'snapshotMemberCount',
      'snapshotMembersSha256',
      'wave',
    ]);
    expect(got.body).toMatchObject({
      campaign: campaign.urn,
      wave: 1,
      snapshotMemberCount: FLEET,
      members: s.fleet.map((v) => v.vinCommitment).sort(),
      nextAfter: null,
    });
    // Paged in byte order.
    const first = await s.call<{ members: string[]; nextAfter: string }>(
      'GET',
      path(2, '?limit=7'),
    );
    expect(first.body.members).toHaveLength(7);
    const rest = await s.call<{ members: string[]; nextAfter: null }>(
      'GET',
      path(2, `?after=${first.body.nextAfter}&limit=100`),
    );
    expect([...first.body.members, ...rest.body.members]).toEqual(
      s.fleet.map((v) => v.vinCommitment).sort(),
    );
    expect(rest.body.nextAfter).toBeNull();
  });

  it('refuses without a token, and answers 404 for a wave never started or an unknown campaign', async () => {
    expect((await s.call('GET', path(1), { token: null })).status).toBe(401);
    const never = await s.call('GET', path(4), { token: auditToken });
    expect([never.status, never.code]).toEqual([404, 'CAMPAIGN_NOT_FOUND']);
    const unknown = await s.call(
      'GET',
      `/api/v1/audit/campaigns/urn:tufchain:campaign:${'0'.repeat(32)}/waves/1/members`,
      { token: auditToken },
    );
    expect([unknown.status, unknown.code]).toEqual([404, 'CAMPAIGN_NOT_FOUND']);
    const bad = await s.call('GET', '/api/v1/audit/campaigns/not-a-urn/waves/1/members', {
      token: auditToken,
    });
    expect(bad.status).toBe(400);
  });

  it('is in the OpenAPI document, open to any token', async () => {
    const doc = (await (await fetch(`${s.server.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, { get?: { security?: unknown } }>;
    };
    const op = doc.paths['/api/v1/audit/campaigns/{urn}/waves/{wave}/members']?.get;
    expect(op?.security).toEqual([{ bearerAuth: [] }]);
  });
});

describe('the full audit of a campaign', () => {
  it('tufchain audit --oem-token (an audit token) recomputes every wave and finds nothing', async () => {
    await s.log.log.checkpoint();
    const work = await mkdtemp(join(tmpdir(), 'tufchain-campaign-audit-'));
    try {
      await writeFile(join(work, 'root.json'), JSON.stringify(trustedRoot));
      await writeFile(join(work, 'ca.pem'), s.vehicleCaPem);
      const out: string[] = [];
      const code = await runAuditCli(
        [
          ...['--server', s.server.url, '--rpc', chain.chain.rpcUrl],
          ...['--contract', chain.contractAddress, '--trusted-root', join(work, 'root.json')],
          ...['--vehicle-ca', join(work, 'ca.pem'), '--oem-token', auditToken],
          ...['--log-key', formatVerifierKey(LOG_ORIGIN, s.noteKey), '--log-origin', LOG_ORIGIN],
          '--json',
        ],
        { stdout: (l) => out.push(l), stderr: () => undefined },
      );
      const report = JSON.parse(out.join('\n')) as AuditResult;
      expect(report.findings).toEqual([]);
      expect(code).toBe(0);
      expect(report.stats).toMatchObject({
        campaigns: 1,
        wavesRecomputed: WAVES.length,
        campaignAssignments: FLEET,
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('without a token it cannot open the snapshots: no wave recomputed', async () => {
    const result = await audit({ token: null });
    expect(result.stats).toMatchObject({ campaigns: 1, wavesRecomputed: 0 });
  });

  it('finds a snapshot served other than the one the wave was cut from', async () => {
    // A server that drops one vehicle from wave 2's snapshot (and so from the wave it recomputes).
    const lying: typeof globalThis.fetch = async (input, init) => {
      const res = await fetch(input, init);
      const url = input instanceof Request ? input.url : input.toString();
      if (!url.endsWith('/waves/2/members')) return res;
      const page = (await res.json()) as { members: string[] };
      return Response.json({ ...page, members: page.members.slice(1) });
    };
    const result = await audit({ fetch: lying });
    expect(codes(result)).toContain('CAMPAIGN_WAVE_MEMBERS_MISMATCH');
    expect(result.findings.find((f) => f.code === 'CAMPAIGN_WAVE_MEMBERS_MISMATCH')?.subject).toBe(
      `campaign:${campaign.urn}:4`,
    );
  });

  it('flags a vehicle assigned under the campaign outside its recomputed waves', async () => {
    // An assignment made under the campaign's name, not by it, to a vehicle of no wave.
    const outsider = s.mixed[0]!;
    const made = await s.server.context.director!.assign(
      {
        vehicle: outsider.vinCommitment,
        images: [{ ecuSerial: outsider.ecuSerial, name: IMAGE.name }],
        correlationId: `${campaign.urn}:${outsider.vinCommitment}`,
      },
      'rogue',
    );
    expect(made.id).toBeGreaterThan(0);
    const result = await audit();
    expect(result.stats).toMatchObject({ wavesRecomputed: WAVES.length });
    const outside = result.findings.filter((f) => f.code === 'CAMPAIGN_ASSIGNMENT_OUTSIDE_WAVE');
    expect(outside).toHaveLength(1);
    expect(outside[0]!.subject).toMatch(new RegExp(`^director:${outsider.vinCommitment}:`));
  });
});
