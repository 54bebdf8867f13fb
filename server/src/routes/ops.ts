import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';

export function registerOpsRoutes(app: App, ctx: ServerContext): void {
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
    return c.json({
      status: 'ready',
      checks: { database: 'ok', chain: ctx.chainProbe ? 'ok' : 'not configured' },
    });
  });

  app.get('/metrics', async (c) => {
    const text = await ctx.metrics.registry.render();
    return c.body(text, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
