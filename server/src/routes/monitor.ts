import { createRoute, z } from '@hono/zod-openapi';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { ALERT_KINDS } from '../monitor/alert.js';
import { bearerSecurity, requireScope } from './auth.js';
import { ErrorSchema } from './schemas.js';

const AlertSchema = z
  .object({
    id: z.string().openapi({ description: 'sha256 of kind, chain, tx hash, log index, subject' }),
    kind: z.enum(ALERT_KINDS),
    severity: z.enum(['critical', 'warning', 'info']),
    message: z.string(),
    subject: z.string(),
    chainId: z.number().int(),
    detectedAt: z.string(),
    origin: z
      .object({ txHash: z.string(), blockNumber: z.number().int(), logIndex: z.number().int() })
      .optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('MonitorAlert');

/** Read-only: the alerts of the monitor this server runs, for the console banner. */
export function registerMonitorRoutes(app: App, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/monitor/alerts',
      summary: "The continuous monitor's recent alerts, newest first (any valid token)",
      security: bearerSecurity,
      middleware: [requireScope(ctx, 'any')] as const,
      responses: {
        200: {
          description: 'Up to the 200 most recent alerts',
          content: { 'application/json': { schema: z.object({ alerts: z.array(AlertSchema) }) } },
        },
        401: {
          description: 'No valid token',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        503: {
          description:
            'This server runs no monitor (MONITOR_NOT_CONFIGURED). With the monitor on, every replica answers 200: the alerts are read from the database the replicas share, whichever replica holds the monitor lease',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const alerts = await ctx.monitorAlerts?.();
      if (!alerts) {
        throw new ServerError('MONITOR_NOT_CONFIGURED', 'this server runs no monitor');
      }
      return c.json({ alerts: [...alerts] }, 200);
    },
  );
}
