import { getRequestListener } from '@hono/node-server';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServerParts, type ServerDeps } from './app.js';
import { adapterErrorResponse, answerBusy, answerClientError } from './http/edge-errors.js';
import type { ServerContext } from './context.js';
import { MetadataWarmer } from './http/metadata-warm.js';
import { errorText } from './tuf/service.js';

export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  url: string;
  port: number;
  context: ServerContext;
  /** Stops accepting, lets in-flight requests and publishes finish, stops the re-sign timer. Does not close the store. */
  close(): Promise<void>;
}

/** What operators and orchestrators ask under any load: never refused as SERVER_BUSY. */
function isOpsPath(url: string | undefined): boolean {
  const path = url?.split('?', 1)[0];
  return path === '/healthz' || path === '/readyz' || path === '/metrics';
}

/** The lease name under which one replica runs the background jobs. */
export const BACKGROUND_LEASE = 'tufchain:background-jobs';

export async function startServer(opts: {
  port?: number;
  host?: string;
  deps: ServerDeps;
}): Promise<RunningServer> {
  const { app, context } = createServerParts(opts.deps);
  const host = opts.host ?? '127.0.0.1';
  const resign = async (): Promise<void> => {
    try {
      await context.service.refreshExpiring();
    } catch (error) {
      context.logger.error({ err: errorText(error) }, 'background re-signing failed');
    }
    const ttlMs = context.config.idempotencyTtlSeconds * 1000;
    await context.store
      .deleteIdempotencyBefore(new Date(context.clock().getTime() - ttlMs).toISOString())
      .catch((error: unknown) =>
        context.logger.error({ err: errorText(error) }, 'idempotency cleanup failed'),
      );
  };
  const chainLookup = opts.deps.chainLookup;
  /**
   * Finishes or abandons batches a publisher left staged. Under the publish lock (shared by every
   * replica on PostgreSQL), no publish is in flight, so a staged batch found there was left by a
   * replica that died mid-publish: run at start and on every background tick, the publish it
   * carried completes exactly once (or is abandoned) without waiting for that replica's restart.
   */
  const recover = async (): Promise<void> => {
    if (chainLookup) {
      try {
        const report = await context.service.recoverInterruptedPublishes(chainLookup);
        if (report.published.length + report.abandoned.length + report.pending.length > 0) {
          context.logger.warn({ ...report }, 'recovered interrupted publishes');
        }
      } catch (error) {
        context.logger.error({ err: errorText(error) }, 'crash recovery failed');
      }
    }
    // Then the transparency log gets what a crash or an outage left it owed.
    const owed = await context.service.drainLogOutbox(chainLookup);
    if (owed.appended.length + owed.dropped.length + owed.pending.length > 0) {
      context.logger.warn({ ...owed }, 'transparency log outbox');
    }
  };
  await recover();
  if (chainLookup) {
    try {
      await context.service.ensureSnapshotLogged(chainLookup);
    } catch (error) {
      context.logger.error(
        { err: errorText(error) },
        'could not check the served snapshot on chain',
      );
    }
  }
  // Roles that expired while the server was down are re-signed before serving.
  await resign();
  const listener = getRequestListener(app.fetch, {
    hostname: host,
    errorHandler: (error) => adapterErrorResponse(error, context.logger),
  });
  const cache = context.metadataCache;
  // A store other processes write too: what they commit must empty this replica's cache.
  const watch = await opts.deps.store.watchMetadataCommits?.(() => cache.invalidate());
  if (watch) cache.hearsOtherReplicas = () => watch.live();
  const warmer = new MetadataWarmer(context, context.logger);
  cache.onInvalidate(() => warmer.warm());
  warmer.warm();
  const { targetCache: targets, commitAnswers } = context;
  /** Answers from memory (metadata, images, hints) when it can: the route answered, else undefined. */
  const answerFromMemory = (req: IncomingMessage, res: ServerResponse): string | undefined => {
    if (context.lifecycle.shuttingDown) return undefined;
    // The clock is read only for timestamp.json and root.json (their freshness bound).
    if (cache.answer(req, res, () => context.clock().getTime())) return '/metadata/:file';
    return targets.answer(req, res) ?? commitAnswers.answer(req, res);
  };
  const { maxInFlightRequests, busyRetryAfterSeconds } = context.config;
  let inFlight = 0;
  const settled = (): void => {
    inFlight -= 1;
  };
  context.metrics.registry.collected({
    name: 'tufchain_http_requests_in_flight',
    help: 'Requests the router holds now (the scrape among them); bounded by maxInFlightRequests',
    collect: () => [{ labels: {}, value: inFlight }],
  });
  const server = createServer((req, res) => {
    const started = performance.now();
    let route = answerFromMemory(req, res);
    if (route === undefined) {
      if (maxInFlightRequests === 0 || inFlight < maxInFlightRequests || isOpsPath(req.url)) {
        inFlight += 1;
        // 'close' also comes for a request whose client went away before its answer.
        res.once('close', settled);
        void listener(req, res);
        return;
      }
      // A fleet arriving at once (a release, a campaign wave) meets a bounded queue and a
      // Retry-After, not a growing one; the agent keeps what it could not send and tries later.
      answerBusy(res, busyRetryAfterSeconds);
      route = '(busy)';
    }
    // What the router's middleware records for every other request.
    const seconds = (performance.now() - started) / 1000;
    const status = res.statusCode;
    context.metrics.http.record(req.method ?? 'GET', route, status, seconds);
    if (context.logger.isLevelEnabled('info')) {
      context.logger.info(
        {
          method: req.method,
          path: req.url,
          status,
          ms: Math.round(seconds * 1000),
          ...(route === '(busy)' ? { busy: true } : { cached: true }),
        },
        'request',
      );
    }
  });
  // Node's 5 s keep-alive races clients polling about that often: a request sent on a connection
  // the server is closing fails ("other side closed"). Outlast the usual idle timeouts of load
  // balancers and clients (60 s) instead; headersTimeout must stay above it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('clientError', answerClientError);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
  } catch (error) {
    await warmer.stop();
    await watch?.close();
    throw error;
  }
  const intervalMs = context.config.resignIntervalMs;
  // Three missed ticks before another replica takes the jobs over from one that died.
  const lease = opts.deps.jobLease?.(BACKGROUND_LEASE, Math.max(3 * intervalMs, 1000));
  let ticking = false;
  const tick = async (): Promise<void> => {
    // A tick waits for the publish lock; the next one does not queue up behind it.
    if (ticking) return;
    ticking = true;
    try {
      if (lease && !(await lease.hold())) return;
      await recover();
      await resign();
      // Campaign gates and assignments: only the lease holder advances them.
      await context.campaigns?.advanceAll();
    } catch (error) {
      context.logger.error({ err: errorText(error) }, 'background job lease check failed');
    } finally {
      ticking = false;
    }
  };
  const timer = intervalMs > 0 ? setInterval(() => void tick(), intervalMs) : undefined;
  timer?.unref();
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  context.logger.info({ host, port }, 'server listening');
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    context,
    close() {
      closing ??= (async () => {
        context.lifecycle.shuttingDown = true;
        if (timer) clearInterval(timer);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Keep-alive connections go idle as their in-flight requests finish; close them as they do.
        const reaper = setInterval(() => server.closeIdleConnections(), 50);
        server.closeIdleConnections();
        await closed;
        clearInterval(reaper);
        // A publish that outlived its request still finishes its commit or abandon.
        await context.service.serialize(() => Promise.resolve());
        await warmer.stop();
        await watch?.close();
        await lease
          ?.release()
          .catch((error: unknown) =>
            context.logger.warn({ err: errorText(error) }, 'could not give the job lease up'),
          );
        context.logger.info('server closed');
      })();
      return closing;
    },
  };
}
