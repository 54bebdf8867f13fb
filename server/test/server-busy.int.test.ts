import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/cli/api-client.js';
import { ApiError } from '../src/cli/error.js';
import { startServer, type RunningServer } from '../src/index.js';
import { createTestRepo, type TestRepo } from './support/fixtures.js';

/**
 * The in-flight bound (`maxInFlightRequests`) on a real server over loopback: requests held open
 * by clients that send half a body fill it; what comes next is answered 503 SERVER_BUSY at once,
 * except answers from memory and the ops routes; a held request that ends, by its answer or by
 * its client going away, frees its place.
 */
describe('a server at its in-flight bound (SQLite, HTTP on loopback)', () => {
  let t: TestRepo;
  let server: RunningServer;
  const held: Socket[] = [];

  beforeAll(async () => {
    t = await createTestRepo({ config: { maxInFlightRequests: 2, busyRetryAfterSeconds: 1 } });
    server = await startServer({ port: 0, deps: t.deps });
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await server?.close();
    await t?.cleanup();
  });

  /** A report whose body stops after its first byte: the router holds it until the rest comes. */
  async function holdReport(): Promise<{ socket: Socket; answer: Promise<string> }> {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    held.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = '';
    const answer = new Promise<string>((resolve) => {
      socket.on('data', (d: Buffer) => {
        received += d.toString('latin1');
        if (/\r\n\r\n[\s\S]*\}$/.test(received)) resolve(received);
      });
      socket.on('close', () => resolve(received));
    });
    socket.write(
      'POST /api/v1/attestations HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{',
    );
    return { socket, answer };
  }

  const get = (path: string) => fetch(`${server.url}${path}`);

  /** Asks until `path` answers `status` (the held requests reach the router asynchronously). */
  async function until(path: string, status: number): Promise<Response> {
    for (let i = 0; i < 200; i++) {
      const res = await get(path);
      if (res.status === status) return res;
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${path} never answered ${status}`);
  }

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
});
