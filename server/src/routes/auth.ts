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

/**
 * The OpenAPI security requirement of a route guarded by `requireScope(ctx, scope)`: the
 * `bearerAuth` scheme with the scope as its role (OpenAPI 3.1 allows role names for non-OAuth
 * schemes). The authz test checks that each route enforces exactly what it declares.
 */
export function bearerAuth(scope: TokenScope | 'any'): { bearerAuth: string[] }[] {
  return [{ bearerAuth: scope === 'any' ? [] : [scope] }];
}

/** For routes any valid token may call; a mutating route must declare its scope (bearerAuth). */
export const bearerSecurity = bearerAuth('any');
