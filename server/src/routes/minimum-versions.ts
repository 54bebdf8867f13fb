import { createRoute, z } from '@hono/zod-openapi';
import { hardwareIdHash } from '@tufchain/contracts';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { isValidHardwareId } from '../http/names.js';
import { jsonBodyLimit } from './body-limit.js';
import { bearerAuth, bearerSecurity, requireScope } from './auth.js';
import { ErrorSchema } from './schemas.js';

const HardwareIdSchema = z
  .string()
  .max(128)
  .refine(isValidHardwareId, { message: 'INVALID_HARDWARE_ID' })
  .openapi({ example: 'acme-gateway-ecu-rev3' });

const MinimumVersionSchema = z
  .object({
    hardwareId: z.string(),
    /** keccak256 of the hardware ID, as the contract keys it. */
    hardwareIdHash: z.string(),
    minimumVersion: z.number().int(),
  })
  .openapi('MinimumVersion');

const MinimumVersionChangeSchema = MinimumVersionSchema.extend({
  previousVersion: z.number().int(),
  chain: z.object({
    txHash: z.string(),
    blockNumber: z.number().int(),
    blockHash: z.string(),
  }),
}).openapi('MinimumVersionChange');

const errors = {
  400: { description: 'Bad request', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'No valid token', content: { 'application/json': { schema: ErrorSchema } } },
  403: {
    description: 'Token lacks the scope',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  502: {
    description: 'The chain refused the change (CHAIN_LOG_FAILED)',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  503: {
    description: 'The chain cannot be reached (CHAIN_UNAVAILABLE)',
    content: { 'application/json': { schema: ErrorSchema } },
  },
};

/** A chain error as the API answers it; MINIMUM_VERSION_NOT_INCREASING keeps its code. */
function toServerError(error: unknown, what: string): ServerError {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'MINIMUM_VERSION_NOT_INCREASING') {
    return new ServerError('MINIMUM_VERSION_NOT_INCREASING', message, { cause: error });
  }
  if (code === 'INVALID_ENTRY')
    return new ServerError('INVALID_REQUEST', message, { cause: error });
  if (code === 'RPC_UNAVAILABLE' || code === 'TX_TIMEOUT') {
    return new ServerError('CHAIN_UNAVAILABLE', `${what}: ${message}`, { cause: error });
  }
  return new ServerError('CHAIN_LOG_FAILED', `${what}: ${message}`, { cause: error });
}

/**
 * The on-chain minimum version (anti-rollback floor) per hardware ID: read it, and raise it with
 * the server's publisher account. Raising needs the `revoke` scope (or `admin`): like a recall it
 * withdraws releases from every vehicle for good, and it cannot be undone.
 */
export function registerMinimumVersionRoutes(app: App, ctx: ServerContext): void {
  const chain = ctx.releaseLog;
  const jsonLimit = jsonBodyLimit(ctx.config.maxJsonBytes);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/minimum-version',
      summary:
        'The on-chain minimum version (release counter) of a hardware ID, as the publisher account reads it',
      security: bearerSecurity,
      middleware: [requireScope(ctx, 'any')] as const,
      request: { query: z.object({ hardwareId: HardwareIdSchema }) },
      responses: {
        200: {
          description: 'The floor; 0 when none was set',
          content: { 'application/json': { schema: MinimumVersionSchema } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const { hardwareId } = c.req.valid('query');
      if (!chain.minimumVersion) {
        throw new ServerError('CHAIN_UNAVAILABLE', 'the chain client cannot read minimum versions');
      }
      let minimumVersion: number;
      try {
        minimumVersion = await chain.minimumVersion(hardwareId);
      } catch (error) {
        throw toServerError(error, 'reading the minimum version');
      }
      return c.json(
        { hardwareId, hardwareIdHash: hardwareIdHash(hardwareId).toLowerCase(), minimumVersion },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/minimum-version',
      summary:
        'Raise the on-chain minimum version of a hardware ID (signed by the publisher account; it can never be lowered)',
      description:
        'Vehicles refuse any release whose release counter is below the floor (BELOW_MINIMUM_VERSION). ' +
        'The same version again answers the transaction that set it; a lower one 409 MINIMUM_VERSION_NOT_INCREASING. ' +
        'Needs the revoke scope (admin implies it).',
      security: bearerAuth('revoke'),
      middleware: [requireScope(ctx, 'revoke'), jsonLimit] as const,
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({
                hardwareId: HardwareIdSchema,
                version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
              }),
            },
          },
        },
      },
      responses: {
        200: {
          description: 'Raised (or already at that version) and confirmed on chain',
          content: { 'application/json': { schema: MinimumVersionChangeSchema } },
        },
        ...errors,
        409: {
          description: 'Below the current floor (MINIMUM_VERSION_NOT_INCREASING)',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const { hardwareId, version } = c.req.valid('json');
      const setMinimumVersion = chain.setMinimumVersion?.bind(chain);
      if (!setMinimumVersion) {
        throw new ServerError('CHAIN_UNAVAILABLE', 'the chain client cannot set minimum versions');
      }
      // Serialized with publishes: one account, one nonce sequence.
      const receipt = await ctx.service.serialize(async () => {
        try {
          return await setMinimumVersion(hardwareId, version);
        } catch (error) {
          throw toServerError(error, 'raising the minimum version');
        }
      });
      ctx.logger.info(
        {
          hardwareId,
          version,
          previousVersion: receipt.previousVersion,
          txHash: receipt.txHash,
          by: c.get('token').name,
        },
        'minimum version raised on chain',
      );
      return c.json(
        {
          hardwareId,
          hardwareIdHash: receipt.hardwareIdHash,
          minimumVersion: receipt.version,
          previousVersion: receipt.previousVersion,
          chain: {
            txHash: receipt.txHash,
            blockNumber: receipt.blockNumber,
            blockHash: receipt.blockHash,
          },
        },
        200,
      );
    },
  );
}
