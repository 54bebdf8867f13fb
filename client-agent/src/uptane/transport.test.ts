/**
 * How the primary's side of a secondary link waits for a secondary that takes the image more
 * slowly than it comes, over a socket double whose writes complete only when the test says so.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SocketConnection } from './transport.js';

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
