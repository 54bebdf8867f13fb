import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from './support/chain.js';
import { answerProblems, errorCodeOf } from './support/error-answer.js';
import { rawClient, type RawClient } from './support/raw-http.js';
import { startWiredServer, type AuthVariant, type WiredServer } from './support/wired-server.js';

/**
 * Requests the HTTP fuzzer (test/fuzz.int.test.ts) found answered with a 5xx, without an error
 * code, or on a connection left unusable; each is replayed here as it went on the wire.
 */
describe('requests at the HTTP edge (anvil, SQLite, HTTP on loopback)', () => {
  let chain: TestChain;
  let wired: WiredServer;
  let client: RawClient;

  beforeAll(async () => {
    chain = await startTestChain();
    wired = await startWiredServer(chain);
    client = rawClient(wired.server.url);
  });

  afterAll(async () => {
    client?.close();
    await wired?.close();
    await chain?.stop();
  });

  const release = (attestation: string) =>
    `{"targets":[{"name":"gw-9.0.0.img","hardwareIds":["gw-rev3"],"version":"9.0.0","releaseCounter":9,"attestation":${attestation}}]}`;

  const rows: {
    desc: string;
    method: string;
    target: string;
    auth: AuthVariant;
    headers: Record<string, string>;
    body?: string;
    wantStatus: number;
    wantCode: string;
  }[] = [
    {
      desc: 'raw non-ASCII bytes in the path',
      method: 'GET',
      target: '/targets/\u00e9\u00ff',
      auth: 'none',
      headers: {},
      wantStatus: 400,
      wantCode: 'MALFORMED_REQUEST',
    },
    {
      desc: 'a backslash in the path',
      method: 'GET',
      target: '/targets/..\\..\\win.ini',
      auth: 'none',
      headers: {},
      wantStatus: 400,
      wantCode: 'MALFORMED_REQUEST',
    },
    {
      desc: 'a request target longer than the header limit',
      method: 'GET',
      target: `/metadata/${'x'.repeat(64 * 1024)}`,
      auth: 'none',
      headers: {},
      wantStatus: 431,
      wantCode: 'HEADERS_TOO_LARGE',
    },
    {
      desc: 'a header longer than the header limit',
      method: 'GET',
      target: '/healthz',
      auth: 'none',
      headers: { 'x-padding': 'x'.repeat(64 * 1024) },
      wantStatus: 431,
      wantCode: 'HEADERS_TOO_LARGE',
    },
    {
      desc: 'a release whose attestation holds a fraction',
      method: 'POST',
      target: '/api/v1/releases',
      auth: 'scope:publish',
      headers: { 'content-type': 'application/json' },
      body: release('{"mediaType":"x","n":2.6581666373029556e-64}'),
      wantStatus: 400,
      wantCode: 'BUNDLE_MALFORMED',
    },
    {
      desc: 'a release whose attestation nests 5,000 deep',
      method: 'POST',
      target: '/api/v1/releases',
      auth: 'scope:publish',
      headers: { 'content-type': 'application/json' },
      body: release(`{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`),
      wantStatus: 400,
      wantCode: 'BUNDLE_MALFORMED',
    },
  ];

  it.each(rows)(
    'answers $desc with $wantStatus $wantCode, and keeps serving',
    async ({ method, target, auth, headers, body, wantStatus, wantCode }) => {
      const res = await client.send({
        method,
        target,
        headers: { ...headers, ...wired.authHeader(auth) },
        ...(body === undefined ? {} : { body: { bytes: Buffer.from(body), chunked: false } }),
      });
      expect(answerProblems(method, res)).toEqual([]);
      expect([res.status, errorCodeOf(res)]).toEqual([wantStatus, wantCode]);
      expect((await fetch(`${wired.server.url}/healthz`)).status).toBe(200);
    },
  );

  describe('a body refused part-way (413) on a keep-alive connection', () => {
    it.each([
      { desc: 'a JSON route', method: 'POST', target: '/api/v1/releases', chunked: false },
      { desc: 'a JSON route, chunked', method: 'POST', target: '/api/v1/releases', chunked: true },
      {
        desc: 'the vehicle intake',
        method: 'POST',
        target: '/api/v1/attestations',
        chunked: false,
      },
      {
        desc: 'a streamed upload, chunked',
        method: 'PUT',
        target: '/api/v1/firmware/big.bin',
        chunked: true,
      },
    ])(
      'on $desc answers 413 PAYLOAD_TOO_LARGE with Connection: close, and the next request on the client is answered',
      async ({ method, target, chunked }) => {
        const own = rawClient(wired.server.url);
        try {
          const res = await own.send({
            method,
            target,
            headers: { 'content-type': 'application/json', ...wired.authHeader('scope:admin') },
            body: { bytes: new Uint8Array(3_000_000).fill(0x20), chunked },
          });
          expect([res.status, errorCodeOf(res), res.headers.connection]).toEqual([
            413,
            'PAYLOAD_TOO_LARGE',
            'close',
          ]);
          const next = await own.send({ method: 'GET', target: '/healthz', headers: {} });
          expect(next.status).toBe(200);
        } finally {
          own.close();
        }
      },
    );
  });
});
