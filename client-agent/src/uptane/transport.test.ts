/**
 * How the primary's side of a secondary link waits for a secondary that takes the image more
 * slowly than it comes, over a socket double whose writes complete only when the test says so.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { listenSecondary, SocketConnection, SocketTransport } from './transport.js';

const FRAME = 256 * 1024;
const HEAD = 5;

/** A socket whose writes stay queued until complete() finishes the oldest. */
function heldSocket() {
  const done: (() => void)[] = [];
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      done.push(() => callback());
    },
  });
  return {
    socket,
    complete: async (): Promise<boolean> => {
      const next = done.shift();
      if (!next) return false;
      next();
      await new Promise((r) => setImmediate(r));
      return true;
    },
  };
}

describe('the link to a secondary', () => {
  it('lets the sender go on once half of what it queued went out, not only once all of it did', async () => {
    const { socket, complete } = heldSocket();
    const conn = new SocketConnection(socket as unknown as Socket, 'test');
    let frames = 0;
    let waiting: Promise<void> | undefined;
    while (!waiting) {
      waiting = conn.sendImageBytes(Buffer.alloc(FRAME, 7));
      frames += 1;
    }
    // The fourth 256 KiB frame brings the queue to its 1 MiB limit.
    expect(frames).toBe(4);
    let released = false;
    void waiting.then(() => (released = true));
    let framesOut = 0;
    let writesOut = 0;
    while (!released && (await complete())) {
      writesOut += 1;
      if (writesOut % 2 === 0) framesOut += 1; // a frame is two writes: its head and its body
    }
    expect(released).toBe(true);
    // Released once 3 of the 4 frames went out (1 MiB + 20 bytes queued, at most half left).
    expect(framesOut).toBe(3);
    expect(socket.writableLength).toBe(FRAME + HEAD);
    conn.close();
  });

  it('fails a waiting sender when the link closes', async () => {
    const { socket } = heldSocket();
    const conn = new SocketConnection(socket as unknown as Socket, 'test');
    let waiting: Promise<void> | undefined;
    while (!waiting) waiting = conn.sendImageBytes(Buffer.alloc(FRAME));
    socket.destroy();
    await expect(waiting).rejects.toMatchObject({ code: 'ECU_UNREACHABLE' });
  });
});

describe('a secondary reading its link', () => {
  it('takes image bytes as they come, frames and socket chunks apart, and each JSON request whole', async () => {
    const got: Buffer[] = [];
    const { server, address } = await listenSecondary({ host: '127.0.0.1', port: 0 }, () => ({
      onRequest: (m) =>
        Promise.resolve({ ok: true, op: m['op'], bytes: Buffer.concat(got).length }),
      onImageBytes: (chunk) => {
        got.push(Buffer.from(chunk));
        // Now and then the secondary is busy writing: the link pauses until it is done.
        return got.length % 3 === 0 ? new Promise((r) => setTimeout(r, 1)) : undefined;
      },
      onClose: () => undefined,
    }));
    const conn = await new SocketTransport(address).connect();
    try {
      const image = randomBytes(3 * FRAME + 12345);
      await conn.sendImageBytes(Buffer.alloc(0));
      for (let at = 0; at < image.length; at += FRAME) {
        await conn.sendImageBytes(image.subarray(at, at + FRAME));
      }
      // A request larger than a socket chunk comes whole, after every image byte before it.
      const answer = await conn.request({ op: 'image-end', filler: 'x'.repeat(300_000) });
      expect(answer).toEqual({ ok: true, op: 'image-end', bytes: image.length });
      expect(Buffer.concat(got)).toEqual(image);
    } finally {
      conn.close();
      server.close();
    }
  });
});
