import { connect, createServer, type Server, type Socket } from 'node:net';
import { AgentError } from '../error.js';

/**
 * The primary ↔ secondary link (UPTANE.md, "Primary ↔ secondary"): JSON requests and answers,
 * and raw image frames, one request at a time. TCP on loopback or a Unix socket here; CAN/ISO-TP
 * would implement the same two interfaces.
 *
 * Frames: u32 big-endian length of what follows, u8 kind (0 JSON, 1 image bytes), the payload.
 */
export interface SecondaryConnection {
  /** Sends a JSON request and waits for its JSON answer (ECU_UNREACHABLE when the link fails). */
  request(message: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  /**
   * Sends image bytes; a promise means: wait before the next (the link is full). `onWritten` runs
   * once the link no longer needs `chunk` (its memory may be filled again).
   */
  sendImageBytes(chunk: Uint8Array, onWritten?: () => void): Promise<void> | undefined;
  close(): void;
}

export interface SecondaryTransport {
  readonly address: string;
  connect(): Promise<SecondaryConnection>;
}

/** What a secondary does with what arrives on one connection. */
export interface SecondarySession {
  onRequest(message: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Image bytes; a promise pauses the link until it settles. */
  onImageBytes(chunk: Buffer): Promise<void> | undefined;
  onClose(): void;
}

const KIND_JSON = 0;
const KIND_BYTES = 1;
/** A frame's head: the u32 length and the u8 kind. */
const HEAD_BYTES = 5;
/** Largest frame either side accepts: a JSON request carries both repositories' metadata. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Image bytes the primary lets queue on one link before it waits for the secondary. */
const LINK_BUFFER_BYTES = 1024 * 1024;

export type LinkAddress = { host: string; port: number } | { path: string };

export function formatAddress(a: LinkAddress): string {
  return 'path' in a ? `unix:${a.path}` : `tcp:${a.host}:${a.port}`;
}

export function parseAddress(s: string): LinkAddress {
  if (s.startsWith('unix:')) return { path: s.slice(5) };
  const m = /^tcp:([^:]+):(\d+)$/.exec(s);
  if (!m)
    throw new AgentError('CONFIG_INVALID', `secondary address ${s}: tcp:HOST:PORT or unix:PATH`);
  return { host: m[1] as string, port: Number(m[2]) };
}

function frame(kind: number, payload: Uint8Array): Buffer[] {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length + 1, 0);
  head[4] = kind;
  return [head, Buffer.from(payload.buffer, payload.byteOffset, payload.length)];
}

/**
 * Splits a byte stream into frames and calls `onFrame` for each (a promise pauses the socket). A
 * JSON frame comes whole; image bytes come as they arrive, a view of each socket chunk, in one or
 * more calls per frame (their frames carry no meaning beyond the bytes): gathering a 256 KiB frame
 * first cost a fresh buffer and a copy per frame, and the receiver copies the bytes into its slot
 * blocks anyway.
 */
function readFrames(
  socket: Socket,
  onFrame: (kind: number, payload: Buffer) => Promise<void> | undefined,
  onError: (err: Error) => void,
): void {
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  /** The frame being read: its kind and the bytes of it still to come; -1 before its head. */
  let kind = -1;
  let need = 0;
  // The next n bytes: a view when one socket chunk holds them, else one copy of just those.
  const take = (n: number): Buffer => {
    pendingBytes -= n;
    const first = pending[0] as Buffer;
    if (first.length >= n) {
      if (first.length === n) pending.shift();
      else pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let filled = 0; filled < n;) {
      const b = pending[0] as Buffer;
      const k = Math.min(b.length, n - filled);
      b.copy(out, filled, 0, k);
      filled += k;
      if (k === b.length) pending.shift();
      else pending[0] = b.subarray(k);
    }
    return out;
  };
  const pump = (): void => {
    for (;;) {
      if (kind < 0) {
        if (pendingBytes < HEAD_BYTES) return;
        const head = take(HEAD_BYTES);
        const length = head.readUInt32BE(0);
        if (length < 1 || length > MAX_FRAME_BYTES + 1) {
          onError(new AgentError('ECU_PROTOCOL_ERROR', `frame of ${length} bytes`));
          socket.destroy();
          return;
        }
        kind = head[4] as number;
        need = length - 1;
      }
      let waited: Promise<void> | undefined;
      if (kind === KIND_BYTES) {
        if (need > 0) {
          if (pendingBytes === 0) return;
          const piece = take(Math.min(need, (pending[0] as Buffer).length));
          need -= piece.length;
          waited = onFrame(KIND_BYTES, piece);
        }
        if (need === 0) kind = -1;
      } else {
        if (pendingBytes < need) return;
        const payload = take(need);
        const k = kind;
        kind = -1;
        waited = onFrame(k, payload);
      }
      if (waited) {
        socket.pause();
        waited.then(
          () => {
            socket.resume();
            pump();
          },
          (err: unknown) => {
            onError(err instanceof Error ? err : new Error(String(err)));
            socket.destroy();
          },
        );
        return;
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (!socket.isPaused()) pump();
  });
}

/** One link to a secondary over a connected socket (exported for its unit test). */
export class SocketConnection implements SecondaryConnection {
  readonly #socket: Socket;
  readonly #address: string;
  #waiting:
    { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void } | undefined;
  #failure: AgentError | undefined;
  /** sendImageBytes callers waiting for the link's queue to fall to half of LINK_BUFFER_BYTES. */
  readonly #senders: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(socket: Socket, address: string) {
    this.#socket = socket;
    this.#address = address;
    const fail = (why: string): void => {
      this.#failure ??= new AgentError('ECU_UNREACHABLE', `${address}: ${why}`);
      this.#waiting?.reject(this.#failure);
      this.#waiting = undefined;
      for (const s of this.#senders.splice(0)) s.reject(this.#failure);
    };
    readFrames(
      socket,
      (kind, payload) => {
        if (kind !== KIND_JSON) throw new AgentError('ECU_PROTOCOL_ERROR', 'unexpected frame');
        let message: unknown;
        try {
          message = JSON.parse(payload.toString('utf8'));
        } catch {
          message = undefined;
        }
        const w = this.#waiting;
        this.#waiting = undefined;
        if (!message || typeof message !== 'object' || !w) {
          fail('unexpected answer');
          return undefined;
        }
        w.resolve(message as Record<string, unknown>);
        return undefined;
      },
      (err) => fail(err.message),
    );
    socket.on('error', (err) => fail(err.message));
    socket.on('close', () => fail('connection closed'));
  }

  request(message: Record<string, unknown>, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiting) return Promise.reject(new AgentError('ECU_PROTOCOL_ERROR', 'busy'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        reject(new AgentError('ECU_UNREACHABLE', `${this.#address}: no answer in ${timeoutMs} ms`));
        this.#socket.destroy();
      }, timeoutMs);
      this.#waiting = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      for (const b of frame(KIND_JSON, Buffer.from(JSON.stringify(message)))) this.#socket.write(b);
    });
  }

  sendImageBytes(chunk: Uint8Array, onWritten?: () => void): Promise<void> | undefined {
    if (this.#failure) return Promise.reject(this.#failure);
    const [head, body] = frame(KIND_BYTES, chunk) as [Buffer, Buffer];
    // One writev for the frame's head and body, not two writes.
    this.#socket.cork();
    this.#socket.write(head);
    this.#socket.write(body, () => {
      onWritten?.();
      this.#wakeSenders();
    });
    this.#socket.uncork();
    // Up to LINK_BUFFER_BYTES may wait in the socket, and the sender goes on once half of it went
    // out: waiting for 'drain' (an empty queue) made the two ends take turns, each idle half the
    // time, instead of working side by side.
    if (this.#socket.writableLength < LINK_BUFFER_BYTES) return undefined;
    return new Promise((resolve, reject) => {
      this.#senders.push({ resolve, reject });
    });
  }

  #wakeSenders(): void {
    if (this.#senders.length === 0 || this.#socket.writableLength > LINK_BUFFER_BYTES / 2) return;
    for (const s of this.#senders.splice(0)) s.resolve();
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }
}

/** A secondary reached over TCP (loopback) or a Unix socket. */
export class SocketTransport implements SecondaryTransport {
  readonly address: string;
  readonly #to: LinkAddress;
  readonly #connectTimeoutMs: number;

  constructor(to: LinkAddress | string, opts: { connectTimeoutMs?: number } = {}) {
    this.#to = typeof to === 'string' ? parseAddress(to) : to;
    this.address = formatAddress(this.#to);
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  }

  connect(): Promise<SecondaryConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.#to as never);
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new AgentError('ECU_UNREACHABLE', `${this.address}: connect timed out`));
      }, this.#connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new AgentError('ECU_UNREACHABLE', `${this.address}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SocketConnection(socket, this.address));
      });
    });
  }
}

/** Listens for a primary; each connection gets its own session. */
export async function listenSecondary(
  at: LinkAddress,
  newSession: () => SecondarySession,
): Promise<{ server: Server; address: LinkAddress }> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    const session = newSession();
    let busy = Promise.resolve();
    readFrames(
      socket,
      (kind, payload) => {
        if (kind === KIND_BYTES) return session.onImageBytes(payload);
        let message: unknown;
        try {
          message = JSON.parse(payload.toString('utf8'));
        } catch {
          message = undefined;
        }
        const answer = (m: Record<string, unknown>): void => {
          for (const b of frame(KIND_JSON, Buffer.from(JSON.stringify(m)))) socket.write(b);
        };
        if (!message || typeof message !== 'object') {
          answer({ ok: false, code: 'ECU_PROTOCOL_ERROR', message: 'not a JSON object' });
          return undefined;
        }
        busy = busy.then(() =>
          session.onRequest(message as Record<string, unknown>).then(answer, (err: unknown) =>
            answer({
              ok: false,
              code: (err as { code?: string }).code ?? 'ECU_PROTOCOL_ERROR',
              message: err instanceof Error ? err.message : String(err),
            }),
          ),
        );
        return undefined;
      },
      () => socket.destroy(),
    );
    socket.on('error', () => socket.destroy());
    socket.on('close', () => session.onClose());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at as never, () => resolve());
  });
  const bound = server.address();
  const address: LinkAddress =
    bound && typeof bound === 'object' ? { host: bound.address, port: bound.port } : at;
  return { server, address };
}
