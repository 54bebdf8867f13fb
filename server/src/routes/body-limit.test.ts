import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ServerError } from '../error.js';
import { jsonBodyLimit } from './body-limit.js';

function app() {
  const a = new Hono();
  a.onError((err, c) =>
    c.json(
      { code: err instanceof ServerError ? err.code : 'OTHER' },
      err instanceof ServerError ? 413 : 500,
    ),
  );
  a.post('/', jsonBodyLimit(16), async (c) => c.json(await c.req.json()));
  return a;
}

/** A body that fails the request if anything reads it. */
function untouchable(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull() {
      throw new Error('the body was read');
    },
  });
}

describe('jsonBodyLimit', () => {
  it('refuses a declared Content-Length over the limit without reading the body', async () => {
    const res = await app().request('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '17' },
      body: untouchable(),
      duplex: 'half',
    });
    expect([res.status, await res.json()]).toEqual([413, { code: 'PAYLOAD_TOO_LARGE' }]);
  });

  it('counts a body sent without Content-Length and refuses it past the limit', async () => {
    const chunks = [new TextEncoder().encode('{"a":"0123'), new TextEncoder().encode('456789"}')];
    const res = await app().request('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (const c of chunks) controller.enqueue(c);
          controller.close();
        },
      }),
      duplex: 'half',
    });
    expect([res.status, await res.json()]).toEqual([413, { code: 'PAYLOAD_TOO_LARGE' }]);
  });

  it('passes a body within the limit, with or without Content-Length', async () => {
    const withLength = await app().request('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":"12345678"}',
    });
    expect([withLength.status, await withLength.json()]).toEqual([200, { a: '12345678' }]);
    const streamed = await app().request('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"a":1}'));
          controller.close();
        },
      }),
      duplex: 'half',
    });
    expect([streamed.status, await streamed.json()]).toEqual([200, { a: 1 }]);
  });
});
