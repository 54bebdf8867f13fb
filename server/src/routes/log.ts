import { createRoute, z } from '@hono/zod-openapi';
import type { App, ServerContext } from '../context.js';
import { ServerError, type ServerErrorCode } from '../error.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { ErrorSchema } from './schemas.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';

const notFound = {
  description: 'No such entry, not anchored yet, or no log',
  content: { 'application/json': { schema: ErrorSchema } },
};

/** Public read routes of the transparency log (checkpoints, entries, proof bundles). */
export function registerLogRoutes(app: App, ctx: ServerContext): void {
  const log = (): TransparencyLogSink => {
    if (!ctx.log)
      throw new ServerError('LOG_NOT_CONFIGURED', 'this server runs without a transparency log');
    return ctx.log;
  };

  // An error (NOT_ANCHORED above all) turns into a proof later: no cache may keep it.
  app.use('/api/v1/log/*', async (c, next) => {
    await next();
    if (c.res.status >= 400) c.res.headers.set('Cache-Control', 'no-store');
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/log/checkpoints',
      summary: 'Every signed checkpoint (C2SP signed note), by tree size',
      responses: {
        200: {
          description: 'Checkpoints',
          content: {
            'application/json': { schema: z.object({ checkpoints: z.array(z.string()) }) },
          },
        },
        404: notFound,
      },
    }),
    async (c) => {
      const body = await log().checkpoints();
      // New checkpoints appear as the log grows; a short shared cache keeps a CDN useful.
      c.header('Cache-Control', 'public, max-age=10');
      return c.json(body, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/log/entries',
      summary: 'Leaf inputs [start, end), base64, at most 1000 per page',
      request: {
        query: z.object({
          start: z.string().regex(/^\d{1,15}$/),
          end: z.string().regex(/^\d{1,15}$/),
        }),
      },
      responses: {
        200: {
          description: 'Entries',
          content: { 'application/json': { schema: z.object({ entries: z.array(z.string()) }) } },
        },
        400: {
          description: 'Range outside the log',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        404: notFound,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const body = await mapLogErrorsAsync(() => log().entries(Number(q.start), Number(q.end)));
      // The log is append-only and `end` is within it: this page never changes.
      c.header('Cache-Control', IMMUTABLE);
      return c.json(body, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/log/proof-bundle',
      summary: 'Inclusion proof bundle of one entry against its on-chain anchor',
      request: { query: z.object({ index: z.string().regex(/^\d{1,15}$/) }) },
      responses: {
        200: {
          description: 'Proof bundle',
          content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
        },
        404: notFound,
      },
    }),
    async (c) => {
      const index = Number(c.req.valid('query').index);
      const bundle = await mapLogErrorsAsync(() => log().proofBundle(index));
      // The covering anchor is confirmed and never replaced, but a reorg is possible: cache briefly.
      c.header('Cache-Control', 'public, max-age=300');
      return c.json(bundle as Record<string, unknown>, 200);
    },
  );
}

const codeMap: Record<string, ServerErrorCode> = {
  INVALID_RANGE: 'INVALID_RANGE',
  ENTRY_NOT_FOUND: 'LOG_ENTRY_NOT_FOUND',
  NOT_ANCHORED: 'NOT_ANCHORED',
};

function toServerError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  const mapped = typeof code === 'string' ? codeMap[code] : undefined;
  if (mapped && error instanceof Error)
    return new ServerError(mapped, error.message, { cause: error });
  return error;
}

async function mapLogErrorsAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toServerError(error);
  }
}
