import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '@tufchain/contracts/dev';
import {
  createHttpAuditSource,
  createHttpLogAuditSource,
  TransparencyError,
} from '../src/index.js';

let server: Server;
let url: string;
let answer: { status: number; body: string } = { status: 200, body: '{}' };
const requested: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requested.push(req.url ?? '');
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

describe('createHttpAuditSource and createHttpLogAuditSource', () => {
  const table: { desc: string; status: number; body: string; call: () => Promise<unknown> }[] = [
    {
      desc: 'a 500 answer',
      status: 500,
      body: '{"error":{}}',
      call: () => createHttpAuditSource(url).snapshotVersions(),
    },
    {
      desc: 'invalid JSON',
      status: 200,
      body: '{"versions":',
      call: () => createHttpAuditSource(url).snapshotVersions(),
    },
    {
      desc: 'versions that are not positive integers',
      status: 200,
      body: '{"versions":[1,-2]}',
      call: () => createHttpAuditSource(url).snapshotVersions(),
    },
    {
      desc: 'attestations that are not a list',
      status: 200,
      body: '{"attestations":{}}',
      call: () => createHttpAuditSource(url).attestations(),
    },
    {
      desc: 'a missing role version',
      status: 404,
      body: '{}',
      call: () => createHttpAuditSource(url).metadata('bins-0a', 3),
    },
    {
      desc: 'checkpoints that are not strings',
      status: 200,
      body: '{"checkpoints":[1]}',
      call: () => createHttpLogAuditSource(url).checkpoints(),
    },
    {
      desc: 'entries that are not base64 strings',
      status: 200,
      body: '{"entries":[null]}',
      call: () => createHttpLogAuditSource(url).entries(0, 1),
    },
  ];
  for (const { desc, status, body, call } of table) {
    it(`throws AUDIT_SOURCE_UNAVAILABLE for ${desc}`, async () => {
      answer = { status, body };
      expect(await codeOf(call())).toBe('AUDIT_SOURCE_UNAVAILABLE');
    });
  }

  it('returns null for a root version the server does not have, and bytes as served otherwise', async () => {
    answer = { status: 404, body: '{}' };
    expect(await createHttpAuditSource(url).rootMetadata(2)).toBeNull();
    answer = { status: 200, body: '{"signed":{}}' };
    expect(Buffer.from((await createHttpAuditSource(url).rootMetadata(1))!).toString()).toBe(
      '{"signed":{}}',
    );
  });

  it('reads snapshot versions and any role version from the v2 routes, role names URL-encoded', async () => {
    answer = { status: 200, body: '{"versions":[1,2,3]}' };
    requested.length = 0;
    expect(await createHttpAuditSource(url).snapshotVersions()).toEqual([1, 2, 3]);
    answer = { status: 200, body: '{"signed":{"_type":"targets"}}' };
    const bytes = await createHttpAuditSource(url).metadata('supplier-a/b', 7);
    expect(Buffer.from(bytes).toString()).toBe('{"signed":{"_type":"targets"}}');
    expect(requested).toEqual([
      '/api/v1/audit/snapshot-versions',
      '/metadata/7.supplier-a%2Fb.json',
    ]);
    expect(await codeOf(createHttpAuditSource(url).metadata('bins', 0))).toBe(
      'AUDIT_SOURCE_UNAVAILABLE',
    );
  });

  it('throws AUDIT_SOURCE_UNAVAILABLE when nothing listens', async () => {
    const dead = `http://127.0.0.1:${await findFreePort()}`;
    expect(await codeOf(createHttpAuditSource(dead).snapshotVersions())).toBe(
      'AUDIT_SOURCE_UNAVAILABLE',
    );
    expect(await codeOf(createHttpLogAuditSource(dead).checkpoints())).toBe(
      'AUDIT_SOURCE_UNAVAILABLE',
    );
  });
});
