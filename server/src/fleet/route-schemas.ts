import { z } from '@hono/zod-openapi';
import type { ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { jsonBodyLimit } from '../routes/body-limit.js';
import { ErrorSchema } from '../routes/schemas.js';
import type { FleetService } from './service.js';

export const errors = (entries: Record<number, string>) =>
  Object.fromEntries(
    Object.entries(entries).map(([status, description]) => [
      status,
      { description, content: { 'application/json': { schema: ErrorSchema } } },
    ]),
  );

export function requireFleet(ctx: ServerContext): FleetService {
  if (!ctx.fleet) {
    throw new ServerError('FLEET_NOT_CONFIGURED', 'this server was started without a fleet store');
  }
  return ctx.fleet;
}

/** A JSON body limit of at most `maxBytes`, never above the server's maxJsonBytes. */
export function jsonLimit(ctx: ServerContext, maxBytes: number) {
  return jsonBodyLimit(Math.min(maxBytes, ctx.config.maxJsonBytes));
}

export const CommitmentSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .openapi({ description: 'VIN commitment (64 hex), never a VIN' });

export const CommitmentParamSchema = z.object({
  commitment: CommitmentSchema.openapi({ param: { name: 'commitment', in: 'path' } }),
});

export const IdParamSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/)
    .openapi({ param: { name: 'id', in: 'path' }, example: '7' }),
});

/** `?limit=` of a page: default 100, at most `max`. */
export const limitQuery = (max: number) =>
  z
    .string()
    .regex(/^[1-9]\d{0,5}$/)
    .refine((v) => Number(v) <= max, `at most ${max}`)
    .optional()
    .openapi({ description: `page size, 1-${max} (default 100)` });

export const pageLimit = (limit: string | undefined): number =>
  limit === undefined ? 100 : Number(limit);
