import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: unknown;
  method: string;
  params?: unknown[];
}

/** Rewrites the `result` of a forwarded call; return it unchanged to stay honest. */
export type Rewrite = (method: string, params: unknown[], result: unknown) => unknown;

/**
 * How a hostile endpoint answers instead of forwarding: `trickle` sends response headers and then
 * one byte of whitespace every `intervalMs` without ever finishing; `flood` streams whitespace as
 * fast as the client reads, up to `bytes` (then stops without finishing the JSON).
 */
export type Hostility =
  { kind: 'trickle'; intervalMs: number } | { kind: 'flood'; bytes: number } | null;

export interface HostileStats {
  /** Hostile answers started. */
  started: number;
  /** Hostile answers whose connection the client closed before the proxy finished. */
  abortedByClient: number;
  /** Bytes of hostile body written, over all answers. */
  bytesWritten: number;
}

export interface RpcProxy {
  url: string;
  /** Replace the rewrite rule at runtime. */
  setRewrite(rewrite: Rewrite | null): void;
  /** Drop the connection for these methods ('all' = an outage); null to heal. */
  setFailing(methods: 'all' | string[] | null): void;
  /** Answer every request in a hostile way (slow or endless); null to forward again. */
  setHostile(hostility: Hostility): void;
  hostile: HostileStats;
  close(): Promise<void>;
  calls: string[];
}

/** Hostile answers end by themselves after this long, so a test that fails still stops. */
const HOSTILE_LIFETIME_MS = 60_000;

function answerHostile(
  res: ServerResponse,
  hostility: NonNullable<Hostility>,
  stats: HostileStats,
): void {
  stats.started++;
  let finished = false;
  const stop = (aborted: boolean) => {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    clearTimeout(lifetime);
    if (aborted) stats.abortedByClient++;
    res.destroy();
  };
  res.on('close', () => stop(!res.writableFinished));
  const lifetime = setTimeout(() => stop(false), HOSTILE_LIFETIME_MS);
  lifetime.unref();
  res.writeHead(200, { 'content-type': 'application/json' });
  let timer: NodeJS.Timeout | undefined;
  if (hostility.kind === 'trickle') {
    res.write(' ');
    stats.bytesWritten++;
    timer = setInterval(() => {
      res.write(' ');
      stats.bytesWritten++;
    }, hostility.intervalMs);
    return;
  }
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let left = hostility.bytes;
  const pump = (): void => {
    while (!finished && left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      stats.bytesWritten += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/**
 * A real JSON-RPC endpoint on loopback that forwards to an upstream node and can lie about
 * selected answers: how a compromised or buggy RPC provider looks to the reader.
 */
export async function startRpcProxy(
  upstream: string,
  rewrite: Rewrite | null = null,
): Promise<RpcProxy> {
  let rule = rewrite;
  let failing: 'all' | string[] | null = null;
  let hostility: Hostility = null;
  const hostile: HostileStats = { started: 0, abortedByClient: 0, bytesWritten: 0 };
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    if (hostility) {
      req.resume();
      answerHostile(res, hostility, hostile);
      return;
    }
    if (failing === 'all') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as
          JsonRpcRequest | JsonRpcRequest[];
        const list = Array.isArray(body) ? body : [body];
        if (Array.isArray(failing) && list.some((r) => (failing as string[]).includes(r.method))) {
          req.socket.destroy();
          return;
        }
        const answers = await Promise.all(
          list.map(async (r) => {
            calls.push(r.method);
            const upstreamRes = await fetch(upstream, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(r),
            });
            const answer = (await upstreamRes.json()) as { result?: unknown; error?: unknown };
            if (rule && 'result' in answer)
              answer.result = rule(r.method, r.params ?? [], answer.result);
            return answer;
          }),
        );
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(Array.isArray(body) ? answers : answers[0]));
      })().catch(() => {
        res.statusCode = 502;
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    setRewrite(r) {
      rule = r;
    },
    setFailing(m) {
      failing = m;
    },
    setHostile(h) {
      hostility = h;
    },
    hostile,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A lie: eth_getLogs hides every log (the entry "is not logged"). */
export const hideLogs: Rewrite = (method, _params, result) =>
  method === 'eth_getLogs' ? [] : result;

/** A lie: a fork where blocks (and the logs in them) have other hashes. */
export const forgeBlockHashes: Rewrite = (method, _params, result) => {
  const forge = (h: string) => '0x' + 'f'.repeat(8) + h.slice(10);
  if (method === 'eth_getLogs' && Array.isArray(result)) {
    return result.map((l: { blockHash: string }) => ({ ...l, blockHash: forge(l.blockHash) }));
  }
  if (method === 'eth_getBlockByNumber' && result && typeof result === 'object') {
    const b = result as { hash: string };
    return { ...b, hash: forge(b.hash) };
  }
  return result;
};
