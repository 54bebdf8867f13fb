/**
 * The fleet registry API (/api/v1/fleet): vehicle attributes, groups, evaluation and snapshots,
 * through app.request() on one server for the file, its store on the project's engine. The
 * Director's rows (ECU inventories, version reports) are written through the Director's store.
 */
import { createHash } from 'node:crypto';
import type { EcuRegistration } from '@tufchain/transparency/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/index.js';
import { createTestRepo, type TestRepo } from './support/fixtures.js';

const sha = (c: string): string => c.repeat(64);
const AT = '2026-01-01T00:00:00.000Z';
/** Vehicles 1-4 enrolled; 2 and 3 run gw-rev3, 4 runs gw-rev2; 2 reports brake-2.4.bin. */
const [V1, V2, V3, V4] = [sha('1'), sha('2'), sha('3'), sha('4')] as const;

let t: TestRepo;
let fleetToken: string;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  code: string | undefined;
}

async function call(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; raw?: string } = {},
): Promise<Answer> {
  const token = opts.token === undefined ? fleetToken : opts.token;
  const text = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await t.parts.app.request(path, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(text === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(text === undefined ? {} : { body: text }),
  });
  const body = (res.status === 204 ? {} : await res.json()) as Record<string, unknown>;
  return { status: res.status, body, code: (body.error as { code?: string } | undefined)?.code };
}

beforeAll(async () => {
  t = await createTestRepo();
  fleetToken = (await createApiToken(t.repo.store, { name: 'fleet', scopes: ['fleet'] })).token;
  for (const [i, vehicle] of [V1, V2, V3, V4].entries()) {
    await t.repo.store.insertVehicleCertificate({
      serialNumber: `0${i}`,
      vinCommitment: vehicle,
      ecuSerial: 'GW',
      publicKeySha256: sha(String(i)),
      certificatePem: 'pem',
      notBefore: AT,
      notAfter: '2030-01-01T00:00:00.000Z',
      issuedAt: AT,
      enrolledBy: 'token:t',
      previousSerialNumber: null,
      revokedAt: null,
      revocationReason: null,
    });
  }
  const registration = (hardwareId: string): EcuRegistration => ({
    primary_ecu_serial: 'GW',
    ecus: [
      {
        ecu_serial: 'GW',
        hardware_identifier: hardwareId,
        clientKey: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: sha('9') } },
      },
      {
        ecu_serial: 'BRK',
        hardware_identifier: 'brake-b7',
        clientKey: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: sha('8') } },
      },
    ],
  });
  for (const [vehicle, hw] of [
    [V2, 'gw-rev3'],
    [V3, 'gw-rev3'],
    [V4, 'gw-rev2'],
  ] as const) {
    await t.repo.director.appendInventory(
      { vehicle, registration: registration(hw), signerSerial: '01', createdAt: AT },
      0,
    );
  }
  await t.repo.director.insertManifest(
    {
      vehicle: V2,
      manifestSha256: sha('e'),
      manifest: {},
      flags: [],
      completedAssignments: [],
      receivedAt: AT,
    },
    [
      {
        ecuSerial: 'BRK',
        reportCounter: 1,
        nonce: 'n1',
        filepath: 'brake-b7/brake-2.4.bin',
        sha256: sha('7'),
        trusted: true,
      },
    ],
  );
  const attrs = [
    [V1, { model: 'Roadster', modelYear: 2022, region: 'EU', tags: ['pilot'] }],
    [V2, { model: 'Roadster', modelYear: 2024, region: 'EU', tags: ['pilot', 'bench'] }],
    [V3, { model: 'Van', modelYear: 2024, region: 'US' }],
  ] as const;
  for (const [vehicle, body] of attrs) {
    const put = await call('PUT', `/api/v1/fleet/vehicles/${vehicle}/attributes`, { body });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
  }
});

afterAll(async () => {
  await t?.cleanup();
});

describe('fleet vehicles (/api/v1/fleet/vehicles)', () => {
  it('answers a vehicle with its OEM attributes (tags sorted) and what signed data says of its ECUs', async () => {
    const got = await call('GET', `/api/v1/fleet/vehicles/${V2}`, { token: t.tokens.publish });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      vehicle: V2,
      attributes: { model: 'Roadster', modelYear: 2024, region: 'EU', tags: ['bench', 'pilot'] },
      ecus: [
        { ecuSerial: 'BRK', hardwareId: 'brake-b7', installed: { name: 'brake-b7/brake-2.4.bin' } },
        { ecuSerial: 'GW', hardwareId: 'gw-rev3', installed: null },
      ],
    });
  });

  it('lists vehicles by pages that follow nextAfter to the end', async () => {
    const seen: string[] = [];
    let after = '';
    for (;;) {
      const page = await call('GET', `/api/v1/fleet/vehicles?limit=3${after}`);
      expect(page.status).toBe(200);
      seen.push(...(page.body.vehicles as { vehicle: string }[]).map((v) => v.vehicle));
      if (page.body.nextAfter === null) break;
      after = `&after=${page.body.nextAfter as string | number}`;
    }
    expect(seen).toEqual([V1, V2, V3, V4]);
  });

  it.each([
    { desc: 'an unknown vehicle', path: sha('5'), body: {}, want: '404 VEHICLE_NOT_FOUND' },
    { desc: 'a VIN in the path', path: 'WVWZZZ1JZXW000001', body: {}, want: '400 INVALID_REQUEST' },
    {
      desc: 'a VIN-shaped tag',
      path: V1,
      body: { tags: ['wvwzzz1jzxw000001'] },
      want: '422 PERSONAL_DATA_REJECTED',
    },
    {
      desc: 'a VIN-shaped model',
      path: V1,
      body: { model: 'WVWZZZ1JZXW000001' },
      want: '422 PERSONAL_DATA_REJECTED',
    },
    {
      desc: 'a tag outside the charset',
      path: V1,
      body: { tags: ['a b'] },
      want: '400 INVALID_REQUEST',
    },
    {
      desc: 'too many tags',
      path: V1,
      body: { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
      want: '400 INVALID_REQUEST',
    },
    {
      desc: 'a model year of 1800',
      path: V1,
      body: { modelYear: 1800 },
      want: '400 INVALID_REQUEST',
    },
    { desc: 'an unknown field', path: V1, body: { vin: 'x' }, want: '400 INVALID_REQUEST' },
    {
      desc: 'a body above 16 KiB',
      path: V1,
      raw: `{"model":"${'a'.repeat(17_000)}"}`,
      want: '413 PAYLOAD_TOO_LARGE',
    },
    { desc: 'no JSON', path: V1, raw: '{', want: '400 MALFORMED_JSON' },
  ])(
    'refuses $desc on PUT attributes with $want, changing nothing',
    async ({ path, body, raw, want }) => {
      const before = await call('GET', `/api/v1/fleet/vehicles/${V1}`);
      const res = await call(
        'PUT',
        `/api/v1/fleet/vehicles/${path}/attributes`,
        raw === undefined ? { body } : { raw },
      );
      expect(`${res.status} ${res.code}`).toBe(want);
      expect(await call('GET', `/api/v1/fleet/vehicles/${V1}`)).toEqual(before);
    },
  );

  it('asks a fleet (or admin) token to set attributes: 401 without one, 403 for publish', async () => {
    const path = `/api/v1/fleet/vehicles/${V1}/attributes`;
    expect((await call('PUT', path, { token: null, body: {} })).code).toBe('UNAUTHENTICATED');
    expect((await call('PUT', path, { token: t.tokens.publish, body: {} })).code).toBe(
      'INSUFFICIENT_SCOPE',
    );
    const admin = await call('PUT', path, {
      token: t.tokens.admin,
      body: { model: 'Roadster', modelYear: 2022, region: 'EU', tags: ['pilot'] },
    });
    expect(admin.status).toBe(200);
  });
});

describe('fleet groups and snapshots (/api/v1/fleet/groups, /api/v1/fleet/snapshots)', () => {
  const create = async (body: unknown) => call('POST', '/api/v1/fleet/groups', { body });
  const digest = (members: string[]) =>
    createHash('sha256').update(JSON.stringify(members)).digest('hex');

  it('evaluates a dynamic group over OEM attributes and signed data, exactly and sorted', async () => {
    const group = await create({
      name: 'eu-roadsters-on-new-brakes',
      definition: {
        kind: 'dynamic',
        filter: {
          any: [
            {
              all: [{ region: { in: ['EU'] } }, { installed: { name: 'brake-b7/brake-2.4.bin' } }],
            },
            { all: [{ hardwareId: 'gw-rev3' }, { not: { tag: 'pilot' } }] },
          ],
        },
      },
    });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    const members = await call('GET', `/api/v1/fleet/groups/${String(group.body.id)}/members`);
    expect(members.body).toEqual({
      count: 2,
      membersSha256: digest([V2, V3]),
      members: [V2, V3],
      truncated: false,
    });
    const preview = await call('POST', '/api/v1/fleet/groups/preview?limit=1', {
      body: { kind: 'dynamic', filter: { modelYear: { gte: 2020 } } },
    });
    expect(preview.body).toEqual({
      count: 3,
      membersSha256: digest([V1, V2, V3]),
      members: [V1],
      truncated: true,
    });
  });

  it('records a snapshot that stays what it was while the fleet changes, and outlives its group', async () => {
    const group = await create({
      name: 'year-2024',
      description: 'every 2024 vehicle',
      definition: { kind: 'dynamic', filter: { modelYear: { gte: 2024, lte: 2024 } } },
    });
    const id = String(group.body.id);
    const snap = await call('POST', `/api/v1/fleet/groups/${id}/snapshots`);
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body).toMatchObject({
      groupName: 'year-2024',
      memberCount: 2,
      membersSha256: digest([V2, V3]),
      createdBy: expect.stringMatching(/^token:/) as unknown,
    });
    // V4 becomes a 2024 vehicle: the group grows, the snapshot does not.
    await call('PUT', `/api/v1/fleet/vehicles/${V4}/attributes`, { body: { modelYear: 2024 } });
    expect((await call('GET', `/api/v1/fleet/groups/${id}/members`)).body.count).toBe(3);
    expect((await call('DELETE', `/api/v1/fleet/groups/${id}`)).status).toBe(204);
    expect((await call('GET', `/api/v1/fleet/groups/${id}`)).code).toBe('GROUP_NOT_FOUND');
    const snapPath = `/api/v1/fleet/snapshots/${String(snap.body.id)}`;
    const first = await call('GET', `${snapPath}?limit=1`, { token: t.tokens.publish });
    expect(first.body).toMatchObject({ members: [V2], nextAfter: V2 });
    const rest = await call('GET', `${snapPath}?limit=1&after=${V2}`);
    expect(rest.body).toMatchObject({ members: [V3], nextAfter: V3 });
    expect((await call('GET', `${snapPath}?limit=1&after=${V3}`)).body).toMatchObject({
      members: [],
      nextAfter: null,
    });
  });

  it('keeps static members as given (unique, sorted) and lists groups by pages', async () => {
    const group = await create({
      name: 'bench',
      definition: { kind: 'static', vehicles: [V3, V1, V3] },
    });
    expect(group.body.definition).toEqual({ kind: 'static', vehicles: [V1, V3] });
    const snap = await call('POST', `/api/v1/fleet/groups/${String(group.body.id)}/snapshots`);
    expect(snap.body).toMatchObject({ memberCount: 2, membersSha256: digest([V1, V3]) });
    const names: string[] = [];
    let after = '';
    for (;;) {
      const page = await call('GET', `/api/v1/fleet/groups?limit=1${after}`);
      names.push(...(page.body.groups as { name: string }[]).map((g) => g.name));
      if (page.body.nextAfter === null) break;
      after = `&after=${page.body.nextAfter as string | number}`;
    }
    expect(names).toContain('bench');
    expect(names).not.toContain('year-2024');
  });

  it('refuses to snapshot a group with no member now with 422 EMPTY_GROUP, recording nothing', async () => {
    const group = await create({
      name: 'nobody',
      definition: { kind: 'dynamic', filter: { region: { in: ['JP'] } } },
    });
    const res = await call('POST', `/api/v1/fleet/groups/${String(group.body.id)}/snapshots`);
    expect(`${res.status} ${res.code}`).toBe('422 EMPTY_GROUP');
  });

  const deep = Array.from({ length: 8 }).reduce<unknown>((f) => ({ not: f }), { tag: 'a' });
  it.each([
    {
      desc: 'an unknown static member',
      body: { name: 'x1', definition: { kind: 'static', vehicles: [V1, sha('5')] } },
      want: '422 GROUP_MEMBER_UNKNOWN',
    },
    {
      desc: 'a VIN as a static member',
      body: { name: 'x2', definition: { kind: 'static', vehicles: ['WVWZZZ1JZXW000001'] } },
      want: '400 INVALID_REQUEST',
    },
    {
      desc: 'an empty static list',
      body: { name: 'x3', definition: { kind: 'static', vehicles: [] } },
      want: '400 INVALID_REQUEST',
    },
    {
      desc: 'a filter on an unknown attribute',
      body: { name: 'x4', definition: { kind: 'dynamic', filter: { owner: 'x' } } },
      want: '400 FILTER_INVALID',
    },
    {
      desc: 'an SQL fragment in a filter',
      body: {
        name: 'x5',
        definition: { kind: 'dynamic', filter: { region: { in: ["EU' OR '1'='1"] } } },
      },
      want: '400 FILTER_INVALID',
    },
    {
      desc: 'a filter nested too deep',
      body: { name: 'x6', definition: { kind: 'dynamic', filter: deep } },
      want: '400 FILTER_TOO_COMPLEX',
    },
    {
      desc: 'a taken name',
      body: { name: 'bench', definition: { kind: 'static', vehicles: [V1] } },
      want: '409 GROUP_NAME_TAKEN',
    },
    {
      desc: 'a VIN-shaped name',
      body: { name: 'wvwzzz1jzxw000001', definition: { kind: 'static', vehicles: [V1] } },
      want: '422 PERSONAL_DATA_REJECTED',
    },
    {
      desc: 'a name outside the charset',
      body: { name: 'Bench Group', definition: { kind: 'static', vehicles: [V1] } },
      want: '400 INVALID_REQUEST',
    },
    {
      desc: 'a static kind with a filter',
      body: { name: 'x8', definition: { kind: 'static', filter: { tag: 'a' } } },
      want: '400 INVALID_REQUEST',
    },
    {
      desc: 'an unknown kind',
      body: { name: 'x7', definition: { kind: 'sql', query: 'SELECT 1' } },
      want: '400 INVALID_REQUEST',
    },
  ])('refuses a group with $desc: $want', async ({ body, want }) => {
    const before = (await call('GET', '/api/v1/fleet/groups?limit=1000')).body.groups;
    const res = await create(body);
    expect(`${res.status} ${res.code}`).toBe(want);
    expect((await call('GET', '/api/v1/fleet/groups?limit=1000')).body.groups).toEqual(before);
  });

  it.each([
    { method: 'GET', path: '/api/v1/fleet/groups/999999', want: '404 GROUP_NOT_FOUND' },
    { method: 'DELETE', path: '/api/v1/fleet/groups/999999', want: '404 GROUP_NOT_FOUND' },
    { method: 'POST', path: '/api/v1/fleet/groups/999999/snapshots', want: '404 GROUP_NOT_FOUND' },
    { method: 'GET', path: '/api/v1/fleet/snapshots/999999', want: '404 SNAPSHOT_NOT_FOUND' },
    { method: 'GET', path: '/api/v1/fleet/groups/0', want: '400 INVALID_REQUEST' },
    { method: 'GET', path: '/api/v1/fleet/groups?limit=0', want: '400 INVALID_REQUEST' },
    { method: 'GET', path: '/api/v1/fleet/snapshots/1?limit=10001', want: '400 INVALID_REQUEST' },
  ])('answers $method $path with $want', async ({ method, path, want }) => {
    const res = await call(method, path);
    expect(`${res.status} ${res.code}`).toBe(want);
  });

  it('asks a fleet token for every change, and any token for reads', async () => {
    const id = '1';
    for (const [method, path] of [
      ['POST', '/api/v1/fleet/groups'],
      ['POST', '/api/v1/fleet/groups/preview'],
      ['DELETE', `/api/v1/fleet/groups/${id}`],
      ['POST', `/api/v1/fleet/groups/${id}/snapshots`],
    ] as const) {
      const res = await call(method, path, { token: t.tokens.publish, body: {} });
      expect(`${method} ${path}: ${res.code}`).toBe(`${method} ${path}: INSUFFICIENT_SCOPE`);
    }
    expect((await call('GET', '/api/v1/fleet/groups', { token: null })).code).toBe(
      'UNAUTHENTICATED',
    );
  });
});
