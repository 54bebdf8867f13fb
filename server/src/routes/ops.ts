import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { anchorHealthOf } from '../log/anchor-health.js';
import { registerAnchoringMetrics } from '../metrics.js';

export function registerOpsRoutes(app: App, ctx: ServerContext): void {
  registerAnchoringMetrics(ctx.metrics.registry, () => anchorHealthOf(ctx.log));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    if (ctx.lifecycle.shuttingDown)
      throw new ServerError('SHUTTING_DOWN', 'the server is shutting down');
    try {
      await ctx.store.ping();
    } catch (error) {
      throw new ServerError('NOT_READY', 'database unreachable', { cause: error });
    }
    if (ctx.chainProbe) {
      try {
        await ctx.chainProbe();
      } catch (error) {
        throw new ServerError('CHAIN_UNAVAILABLE', 'chain RPC unreachable', { cause: error });
      }
    }
    const anchoring = await anchorHealthOf(ctx.log).catch((error: unknown) => {
      throw new ServerError('NOT_READY', 'anchoring outbox unreadable', { cause: error });
    });
    if (anchoring?.stalled) {
      throw new ServerError('ANCHORING_STALLED', `anchoring stalled: ${anchoring.stallReason}`);
    }
    return c.json({
      status: 'ready',
      checks: {
        database: 'ok',
        chain: ctx.chainProbe ? 'ok' : 'not configured',
        anchoring: anchoring ? 'ok' : 'not configured',
      },
    });
  });

  app.get('/metrics', async (c) => {
    const text = await ctx.metrics.registry.render();
    return c.body(text, 200, { 'Content-Type': ctx.metrics.registry.contentType });
  });
}
