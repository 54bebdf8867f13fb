import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/cli/api-client.js';
import { ApiError } from '../src/cli/error.js';
import { startServer, type RunningServer } from '../src/index.js';
import {
  auth,
  createTestRepo,
  fakeFirmwareBundle,
  sha256Hex,
  type TestRepo,
} from './support/fixtures.js';
import { HeldRequests, untilStatus } from './support/held-requests.js';

/**
 * The in-flight bound (`maxInFlightRequests`) on a real server over loopback: requests held open
 * by clients that send half a body fill it; what comes next is answered 503 SERVER_BUSY at once,
 * except answers from memory and the ops routes; a held request that ends, by its answer or by
 * its client going away, frees its place.
 */
describe('a server at its in-flight bound (SQLite, HTTP on loopback)', () => {
  let t: TestRepo;
  let server: RunningServer;
  let held: HeldRequests;

  beforeAll(async () => {
    t = await createTestRepo({ config: { maxInFlightRequests: 2, busyRetryAfterSeconds: 1 } });
    server = await startServer({ port: 0, deps: t.deps });
    held = new HeldRequests(server.url);
  });

  afterAll(async () => {
    held?.releaseAll();
    await server?.close();
    await t?.cleanup();
  });

  const holdReport = () => held.hold();
  const get = (path: string) => fetch(`${server.url}${path}`);
  const until = (path: string, status: number) => untilStatus(server.url, path, status);

  it('refuses the next request with Retry-After, keeps answering from memory and ops, and frees a place when a held request ends', async () => {
    const versions = '/api/v1/audit/targets-versions';
    expect((await get(versions)).status).toBe(200);
    // Into the metadata cache before the bound fills.
    expect((await get('/metadata/timestamp.json')).status).toBe(200);

    const first = await holdReport();
    const second = await holdReport();
    const busy = await until(versions, 503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(await busy.json()).toMatchObject({ error: { code: 'SERVER_BUSY' } });

    expect((await get('/metadata/timestamp.json')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    const metrics = await (await get('/metrics')).text();
    // Two held, and the scrape itself.
    expect(metrics).toMatch(/^tufchain_http_requests_in_flight 3$/m);
    expect(metrics).toMatch(
      /^tufchain_http_requests_total\{[^}]*route="\(busy\)"[^}]*status="503"[^}]*\} [1-9]/m,
    );

    // The first ends with its answer: its body completes (and does not verify).
    first.socket.write('}');
    expect(await first.answer).toMatch(/^HTTP\/1\.1 (400|422) /);
    expect((await until(versions, 200)).status).toBe(200);

    // Full again; then the second's client goes away before any answer.
    const third = await holdReport();
    await until(versions, 503);
    second.socket.destroy();
    expect((await until(versions, 200)).status).toBe(200);
    third.socket.destroy();
  });

  it('the CLI client sends a refused request again after Retry-After, but not a consumed stream', async () => {
    const versions = '/api/v1/audit/targets-versions';
    const client = new ApiClient({ baseUrl: server.url, token: t.tokens.admin, fetch });
    const a = await holdReport();
    const b = await holdReport();
    await until(versions, 503);

    const upload = client.put(
      '/api/v1/firmware/busy.img',
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(16));
          controller.close();
        },
      }),
    );
    await expect(upload).rejects.toEqual(expect.objectContaining({ code: 'SERVER_BUSY' }));
    await expect(upload).rejects.toBeInstanceOf(ApiError);

    const started = performance.now();
    const answered = client.json<{ versions: number[] }>('GET', versions);
    // Places free up while the client waits out its first Retry-After.
    setTimeout(() => {
      a.socket.destroy();
      b.socket.destroy();
    }, 300);
    const { body, status } = await answered;
    expect(status).toBe(200);
    expect(Array.isArray(body.versions)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("after a release, a fleet's next poll is answered from memory while the router is full", async () => {
    const hint = '/api/v1/hardware/ecu-busy/latest';
    const rootProbe = '/metadata/2.root.json';
    // The router's answers, before any release; kept until the next commit.
    const noHint = await get(hint);
    expect(noHint.status).toBe(404);
    const probed = await get(rootProbe);
    expect(probed.status).toBe(404);
    const probedBody = await probed.text();

    // A release through this server: its commit empties the caches and starts the read-ahead.
    const image = new TextEncoder().encode('busy image');
    const put = await fetch(`${server.url}/api/v1/firmware/busy-1.img`, {
      method: 'PUT',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(put.status).toBe(201);
    const claims = { hardwareIds: ['ecu-busy'], version: '1.0.0', releaseCounter: 1 };
    const published = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth(t.tokens.publish), 'content-type': 'application/json' },
      body: JSON.stringify({
        targets: [
          {
            name: 'busy-1.img',
            ...claims,
            attestation: fakeFirmwareBundle({ sha256: sha256Hex(image), ...claims }),
          },
        ],
      }),
    });
    expect(published.status).toBe(201);

    const a = await holdReport();
    const b = await holdReport();
    await until('/api/v1/audit/targets-versions', 503);
    // The hint the fleet asked for before the release is read again after it, without a request.
    const newHint = await until(hint, 200);
    expect(await newHint.json()).toMatchObject({ name: 'busy-1.img', version: '1.0.0' });

    const ts = await get('/metadata/timestamp.json');
    expect(ts.status).toBe(200);
    const timestamp = (await ts.json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const snapshotVersion = timestamp.signed.meta['snapshot.json']!.version;
    const snap = await get(`/metadata/${snapshotVersion}.snapshot.json`);
    expect(snap.status).toBe(200);
    const snapshot = (await snap.json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const files = Object.entries(snapshot.signed.meta).map(([name, m]) => `${m.version}.${name}`);
    expect(files.length).toBeGreaterThan(1);
    for (const file of files)
      expect([file, (await get(`/metadata/${file}`)).status]).toEqual([file, 200]);
    expect((await get('/metadata/root.json')).status).toBe(200);
    // The root probe of every TUF refresh: the router's 404, from memory.
    const probedAgain = await get(rootProbe);
    expect(probedAgain.status).toBe(404);
    expect(probedAgain.headers.get('content-type')).toBe(probed.headers.get('content-type'));
    expect(await probedAgain.text()).toBe(probedBody);
    // Still full: an answer the router would have to give is refused.
    expect((await get('/api/v1/audit/targets-versions')).status).toBe(503);
    a.socket.destroy();
    b.socket.destroy();
  });
});
