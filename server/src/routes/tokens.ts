import { createRoute, z } from '@hono/zod-openapi';
import { jsonBodyLimit } from './body-limit.js';
import { createApiToken, tokenView } from '../auth/tokens.js';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { bearerAuth, requireScope } from './auth.js';
import { TOKEN_SCOPES } from '../storage/store.js';
import { ErrorSchema } from './schemas.js';

const scopes = TOKEN_SCOPES;

const TokenViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(scopes)),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable().openapi({ description: 'to the minute' }),
    revokedAt: z.string().nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
  })
  .openapi('ApiToken', { description: 'An API token without its secret (never shown again)' });

const CreateTokenSchema = z
  .object({
    name: z.string().min(1).max(100),
    scopes: z.array(z.enum(scopes)).min(1),
    expiresAt: z.iso.datetime({ offset: true }).optional().openapi({
      description: 'refused from this instant on (401 TOKEN_EXPIRED); must be in the future',
    }),
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(10 * 366 * 86_400)
      .optional()
      .openapi({ description: 'instead of expiresAt: lifetime from now' }),
  })
  .refine((b) => b.expiresAt === undefined || b.ttlSeconds === undefined, {
    message: 'give expiresAt or ttlSeconds, not both',
  })
  .openapi('CreateApiToken');

const TokenIdSchema = z.object({
  id: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .openapi({ param: { name: 'id', in: 'path' }, example: '3f9a0c1d2e4b5a6c' }),
});

const errors = {
  400: { description: 'Bad request', content: { 'application/json': { schema: ErrorSchema } } },
  401: {
    description: 'Missing, invalid, expired (TOKEN_EXPIRED) or revoked (TOKEN_REVOKED) token',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  403: {
    description: 'Token lacks the admin scope',
    content: { 'application/json': { schema: ErrorSchema } },
  },
};

/** API tokens: create (the secret is shown once), list (never the secret), revoke. Admin scope. */
export function registerTokenRoutes(app: App, ctx: ServerContext): void {
  const admin = requireScope(ctx, 'admin');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/tokens',
      summary: 'Create an API token (the secret is returned once)',
      security: bearerAuth('admin'),
      middleware: [admin, jsonBodyLimit(ctx.config.maxJsonBytes)] as const,
      request: {
        body: { required: true, content: { 'application/json': { schema: CreateTokenSchema } } },
      },
      responses: {
        201: {
          description: 'Created',
          content: {
            'application/json': {
              schema: TokenViewSchema.pick({
                id: true,
                name: true,
                scopes: true,
                createdAt: true,
                expiresAt: true,
              }).extend({ token: z.string().openapi({ description: 'tct_<id>_<secret>' }) }),
            },
          },
        },
        ...errors,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const now = ctx.clock();
      const expiresAt =
        body.expiresAt !== undefined
          ? new Date(body.expiresAt)
          : body.ttlSeconds !== undefined
            ? new Date(now.getTime() + body.ttlSeconds * 1000)
            : null;
      const created = await createApiToken(ctx.store, {
        name: body.name,
        scopes: body.scopes,
        expiresAt,
        now,
      });
      ctx.logger.info(
        { tokenId: created.id, scopes: created.scopes, expiresAt: created.expiresAt },
        'api token created',
      );
      return c.json(created, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/tokens',
      summary: 'Every API token, oldest first, without secrets',
      security: bearerAuth('admin'),
      middleware: [admin] as const,
      responses: {
        200: {
          description: 'Tokens',
          content: {
            'application/json': { schema: z.object({ tokens: z.array(TokenViewSchema) }) },
          },
        },
        ...errors,
      },
    }),
    async (c) => {
      const now = ctx.clock();
      const tokens = (await ctx.store.tokens()).map((t) => tokenView(t, now));
      return c.json({ tokens }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/tokens/{id}/revoke',
      summary: 'Revoke an API token: every later request with it answers 401 TOKEN_REVOKED',
      security: bearerAuth('admin'),
      middleware: [admin] as const,
      request: { params: TokenIdSchema },
      responses: {
        200: {
          description: 'Revoked',
          content: { 'application/json': { schema: z.object({ token: TokenViewSchema }) } },
        },
        ...errors,
        404: {
          description: 'TOKEN_NOT_FOUND',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        409: {
          description: 'TOKEN_ALREADY_REVOKED',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const now = ctx.clock();
      const outcome = await ctx.store.revokeToken(id, now.toISOString());
      if (outcome === 'NOT_FOUND') throw new ServerError('TOKEN_NOT_FOUND', `no API token ${id}`);
      if (outcome === 'ALREADY_REVOKED')
        throw new ServerError('TOKEN_ALREADY_REVOKED', `API token ${id} is already revoked`);
      const record = await ctx.store.token(id);
      if (!record) throw new ServerError('TOKEN_NOT_FOUND', `no API token ${id}`);
      ctx.logger.info({ tokenId: id, by: c.get('token').id }, 'api token revoked');
      return c.json({ token: tokenView(record, now) }, 200);
    },
  );
}
