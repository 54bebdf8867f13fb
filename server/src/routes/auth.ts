import type { MiddlewareHandler } from 'hono';
import { assertScope, authenticateToken } from '../auth/tokens.js';
import type { AppEnv, ServerContext } from '../context.js';
import type { TokenScope } from '../storage/store.js';

export function requireScope(
  ctx: ServerContext,
  scope: TokenScope | 'any',
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = await authenticateToken(ctx.store, c.req.header('authorization'), ctx.clock());
    assertScope(token, scope);
    c.set('token', token);
    await next();
  };
}

export const bearerSecurity = [{ bearerAuth: [] }];
