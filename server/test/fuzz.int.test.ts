import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from './support/chain.js';
import { answerProblems } from './support/error-answer.js';
import {
  listOperations,
  requestArbitrary,
  type FuzzContext,
  type FuzzRequest,
  type OpenApiDocument,
  type Operation,
} from './support/openapi-fuzz.js';
import { rawClient, type RawClient, type RawResponse } from './support/raw-http.js';
import {
  startWiredServer,
  TOKEN_SCOPES,
  WIRED_LIMITS,
  type WiredServer,
} from './support/wired-server.js';

/**
 * Every operation of the server's own OpenAPI document gets generated requests: wrong types,
 * missing and extra fields, bad JSON, wrong content types, bodies over the limits, traversal,
 * NUL, broken escapes and huge values in every path parameter, query edge cases, Range headers,
 * HEAD, stray methods, and every kind of missing, broken, expired, revoked or wrong-scope token.
 * No answer may be a 5xx, and every error must be `{ error: { code, message } }` with a specific
 * ServerErrorCode of its status. A route added later is fuzzed without a line of test code.
 *
 * TUFCHAIN_FUZZ_RUNS: runs per operation (default 40). TUFCHAIN_FUZZ_SEED: the base seed
 * (default fixed). TUFCHAIN_FUZZ_ONLY: a substring of "METHOD /path" to fuzz one operation.
 */
const RUNS = Number(process.env.TUFCHAIN_FUZZ_RUNS ?? 40);
const SEED = Number(process.env.TUFCHAIN_FUZZ_SEED ?? 20_261_204);
const ONLY = process.env.TUFCHAIN_FUZZ_ONLY;

/** Routes the app serves that the OpenAPI document leaves out, each with why. */
const UNDOCUMENTED_ROUTES: Record<string, string> = {
  'GET /api/v1/openapi.json': 'the document itself (fuzzed as an extra operation below)',
  ...Object.fromEntries(
    [
      'GET /console',
      'GET /console/console.css',
      'GET /console/login',
      'POST /console/login',
      'POST /console/logout',
      'GET /console/releases',
      'GET /console/releases/{id}',
      'GET /console/keys',
      'GET /console/coverage',
      'GET /console/vehicles',
      'GET /console/vehicles/{key}',
      'GET /console/vehicles/{key}/audit-pack',
      'GET /console/campaigns',
      'GET /console/campaigns/{id}',
      'GET /console/findings',
    ].map((k) => [
      k,
      'the web console: HTML pages behind a session cookie, not the API (src/console/*.test.ts, test/console-*browser.int.test.ts)',
    ]),
  ),
};

const EXTRA_OPERATIONS: Operation[] = [
  {
    key: 'GET /api/v1/openapi.json',
    method: 'GET',
    path: '/api/v1/openapi.json',
    pathParams: [],
    queryParams: [],
    headerParams: [],
    body: undefined,
    security: undefined,
  },
];

/** A seed per operation, so that a route added later does not reshuffle the others' requests. */
function seedOf(key: string): number {
  let h = 2_166_136_261;
  for (const ch of key) h = Math.imul(h ^ ch.charCodeAt(0), 16_777_619);
  return (SEED ^ h) | 0;
}

describe('HTTP fuzzing of every operation in the OpenAPI document (anvil, SQLite, HTTP on loopback)', () => {
  let chain: TestChain;
  let wired: WiredServer;
  let client: RawClient;
  let doc: OpenApiDocument;
  let operations: Operation[];
  let unsupported: string[];

  beforeAll(async () => {
    chain = await startTestChain();
    wired = await startWiredServer(chain);
    client = rawClient(wired.server.url);
    const res = await fetch(`${wired.server.url}/api/v1/openapi.json`);
    doc = (await res.json()) as OpenApiDocument;
    ({ operations, unsupported } = listOperations(doc));
  });

  afterAll(async () => {
    client?.close();
    await wired?.close();
    await chain?.stop();
  });

  function send(req: FuzzRequest): Promise<RawResponse> {
    return client.send({
      method: req.method,
      target: req.target,
      headers: { ...req.headers, ...wired.authHeader(req.auth) },
      ...(req.body ? { body: { bytes: req.body.bytes, chunked: req.body.chunked } } : {}),
    });
  }

  it('can generate requests for every operation the document lists', () => {
    expect(unsupported).toEqual([]);
    expect(operations.length).toBeGreaterThanOrEqual(30);
  });

  it('finds every route the app serves in the document', () => {
    const documented = new Set(operations.map((o) => o.key));
    const served = new Set(
      wired.parts.app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path.replace(/:([^/]+)/g, '{$1}')}`),
    );
    expect([...served].filter((k) => !documented.has(k) && !(k in UNDOCUMENTED_ROUTES))).toEqual(
      [],
    );
    expect(
      Object.keys(UNDOCUMENTED_ROUTES).filter((k) => !served.has(k) || documented.has(k)),
    ).toEqual([]);
  });

  it('answers every generated request below 500, and every error with a specific code of its status', async () => {
    const ctx: FuzzContext = {
      doc,
      scopes: TOKEN_SCOPES,
      known: wired.known,
      corpus: wired.metadataCorpus,
      hugeBytes: Math.max(WIRED_LIMITS.maxJsonBytes, WIRED_LIMITS.maxFirmwareBytes, 64 * 1024),
    };
    const all = [...operations, ...EXTRA_OPERATIONS].filter((o) => !ONLY || o.key.includes(ONLY));
    const methodsOf = (path: string) => all.filter((o) => o.path === path).map((o) => o.method);
    const failures: string[] = [];
    const sent = new Map<string, number>();
    for (const op of all) {
      try {
        await fc.assert(
          fc.asyncProperty(requestArbitrary(ctx, op, methodsOf(op.path)), async (req) => {
            sent.set(op.key, (sent.get(op.key) ?? 0) + 1);
            const problems = answerProblems(req.method, await send(req));
            if (problems.length > 0) {
              throw new Error(`${req.method} ${req.target.slice(0, 200)}: ${problems.join('; ')}`);
            }
          }),
          { seed: seedOf(op.key), numRuns: RUNS, includeErrorInReport: true },
        );
      } catch (error) {
        failures.push(
          `${op.key} — reproduce: TUFCHAIN_FUZZ_SEED=${SEED} TUFCHAIN_FUZZ_ONLY='${op.key}'\n${(error as Error).message}`,
        );
      }
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    // No operation went unfuzzed.
    expect(all.filter((o) => (sent.get(o.key) ?? 0) < RUNS).map((o) => o.key)).toEqual([]);
  }, 600_000);

  it('is still ready and serving metadata after the fuzzing', async () => {
    expect((await fetch(`${wired.server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${wired.server.url}/metadata/timestamp.json`)).status).toBe(200);
  });
});
