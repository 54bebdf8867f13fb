import { Agent, request } from 'node:http';

/**
 * One HTTP request exactly as an attacker would send it: the raw request target (no URL
 * normalization, so `..`, `%00` and malformed escapes reach the server as written), any method,
 * any header bytes Node lets through, and a body sent with a Content-Length or chunked.
 */
export interface RawRequest {
  method: string;
  /** Request target: path and query, already encoded as it should go on the wire. */
  target: string;
  headers: Record<string, string>;
  /** `chunked`: sent in pieces without Content-Length (Transfer-Encoding: chunked). */
  body?: { bytes: Uint8Array; chunked: boolean };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface RawClient {
  send(req: RawRequest): Promise<RawResponse>;
  close(): void;
}

const CHUNK_BYTES = 16 * 1024;

/** A keep-alive client for `baseUrl` (http://127.0.0.1:PORT). Every request gives up after `timeoutMs`. */
export function rawClient(baseUrl: string, opts: { timeoutMs?: number } = {}): RawClient {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return {
    send(req) {
      return new Promise<RawResponse>((resolve, reject) => {
        let answered = false;
        const headers: Record<string, string> = { ...req.headers };
        if (req.body) {
          // Node frames a GET or DELETE body only when told how.
          if (req.body.chunked) headers['transfer-encoding'] = 'chunked';
          else headers['content-length'] = String(req.body.bytes.length);
        }
        const r = request(
          {
            host: url.hostname,
            port: url.port,
            method: req.method,
            path: req.target,
            headers,
            agent,
            timeout: timeoutMs,
          },
          (res) => {
            answered = true;
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks),
              }),
            );
            res.on('error', reject);
          },
        );
        r.on('timeout', () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        // The server may answer (413, 401) and close before it read the whole body: the answer counts.
        r.on('error', (error) => {
          if (!answered) reject(error);
        });
        const bytes = req.body?.bytes;
        if (bytes) {
          for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
            r.write(bytes.subarray(at, at + CHUNK_BYTES));
          }
        }
        r.end();
      });
    },
    close() {
      agent.destroy();
    },
  };
}
