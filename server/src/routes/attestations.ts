import { createRoute, z } from '@hono/zod-openapi';
import { canonicalize } from '@tufjs/canonical-json';
import { createHash } from 'node:crypto';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { bodyLimit } from 'hono/body-limit';
import { BundleSchema, ErrorSchema, FirmwareHintSchema } from './schemas.js';
import { inclusionPromise, InclusionPromiseSchema } from '../log/promise.js';

export function registerAttestationRoutes(app: App, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/attestations',
      summary:
        'Submit an install attestation (authenticated by the vehicle certificate and signature)',
      middleware: [
        bodyLimit({
          maxSize: ctx.config.maxJsonBytes,
          onError: () => {
            throw new ServerError(
              'PAYLOAD_TOO_LARGE',
              `body exceeds ${ctx.config.maxJsonBytes} bytes`,
            );
          },
        }),
      ] as const,
      request: {
        body: { required: true, content: { 'application/json': { schema: BundleSchema } } },
      },
      responses: {
        201: {
          description: 'Stored',
          content: {
            'application/json': {
              schema: z.object({
                id: z.number().int(),
                logIndex: z.number().int().optional().openapi({
                  description: 'Index in the transparency log (proof: /api/v1/log/proof-bundle)',
                }),
                certificateExpired: z
                  .boolean()
                  .optional()
                  .openapi({ description: 'Accepted from an expired certificate: re-enroll' }),
                promise: InclusionPromiseSchema.optional(),
              }),
            },
          },
        },
        200: {
          description: 'Already stored (same bundle)',
          content: {
            'application/json': {
              schema: z.object({
                id: z.number().int(),
                duplicate: z.boolean(),
                logIndex: z.number().int().optional(),
                certificateExpired: z.boolean().optional(),
                promise: InclusionPromiseSchema.optional(),
              }),
            },
          },
        },
        400: { description: 'Malformed', content: { 'application/json': { schema: ErrorSchema } } },
        422: {
          description: 'Does not verify',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const bundle = c.req.valid('json');
      // Revoked or unknown vehicles are refused before anything else (VEHICLE_REVOKED, VEHICLE_UNKNOWN).
      const admission = await ctx.vehicles.admitInstallReport(bundle).catch((error: unknown) => {
        ctx.metrics.attestations.inc({ result: 'rejected' });
        throw error;
      });
      let claims;
      try {
        claims = await ctx.verifier.verifyInstall(bundle);
      } catch (error) {
        ctx.metrics.attestations.inc({ result: 'rejected' });
        if (error instanceof ServerError) throw error;
        const code = (error as { code?: unknown }).code;
        throw new ServerError(
          'INSTALL_ATTESTATION_INVALID',
          `install attestation does not verify${typeof code === 'string' ? ` (${code})` : ''}`,
          { cause: error },
        );
      }
      const bundleJson = canonicalize(bundle);
      const {
        id,
        created,
        logIndex: storedIndex,
      } = await ctx.store.insertAttestation({
        bundleSha256: createHash('sha256').update(bundleJson).digest('hex'),
        bundleJson,
        vinCommitment: claims.vinCommitment,
        ecuSerial: claims.ecuSerial,
        targetName: claims.targetName,
        result: claims.result,
        receivedAt: ctx.clock().toISOString(),
      });
      ctx.metrics.attestations.inc({ result: created ? 'stored' : 'duplicate' });
      let logIndex = storedIndex;
      if (ctx.log && logIndex === null) {
        // Also heals a report stored before a crash but never appended: the agent resends it.
        logIndex = ctx.log.appendInstallAttestation(bundle);
        await ctx.store.setAttestationLogIndex(id, logIndex);
      }
      const promise =
        ctx.log && logIndex !== null ? await inclusionPromise(ctx.log, logIndex) : undefined;
      const flags = {
        ...(admission?.certificateExpired ? { certificateExpired: true } : {}),
        ...(logIndex !== null ? { logIndex } : {}),
        ...(promise ? { promise } : {}),
      };
      return created
        ? c.json({ id, ...flags }, 201)
        : c.json({ id, duplicate: true, ...flags }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/attestations',
      summary: 'Install attestations, oldest first (public, for auditors)',
      request: {
        query: z.object({
          afterId: z
            .string()
            .regex(/^\d{1,15}$/)
            .optional(),
          limit: z
            .string()
            .regex(/^[1-9]\d{0,4}$/)
            .optional(),
        }),
      },
      responses: {
        200: {
          description: 'Bundles',
          content: {
            'application/json': {
              schema: z.object({
                attestations: z.array(BundleSchema),
                nextAfterId: z.number().int().nullable(),
              }),
            },
          },
        },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await ctx.store.attestations({
        ...(q.afterId !== undefined ? { afterId: Number(q.afterId) } : {}),
        ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
      });
      const last = rows.at(-1);
      return c.json(
        {
          attestations: rows.map((r) => JSON.parse(r.bundleJson) as Record<string, unknown>),
          nextAfterId:
            q.limit !== undefined && last && rows.length === Number(q.limit) ? last.id : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/audit/targets-versions',
      summary:
        'Every published targets metadata version (fetch each as /metadata/{N}.targets.json)',
      responses: {
        200: {
          description: 'Versions',
          content: {
            'application/json': { schema: z.object({ versions: z.array(z.number().int()) }) },
          },
        },
      },
    }),
    async (c) => c.json({ versions: await ctx.store.publishedVersions('targets') }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/audit/snapshot-versions',
      summary:
        'Every published snapshot version, each logged on chain (fetch as /metadata/{N}.snapshot.json; the roles it names as /metadata/{V}.{role}.json)',
      responses: {
        200: {
          description: 'Versions',
          content: {
            'application/json': { schema: z.object({ versions: z.array(z.number().int()) }) },
          },
        },
      },
    }),
    async (c) => c.json({ versions: await ctx.store.publishedVersions('snapshot') }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/hardware/{hardwareId}/latest',
      summary:
        'The newest firmware target for a hardware ID (a discovery hint; vehicles verify it through TUF and the chain)',
      request: {
        params: z.object({
          hardwareId: z
            .string()
            .regex(/^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/, 'INVALID_HARDWARE_ID')
            .openapi({ param: { name: 'hardwareId', in: 'path' }, example: 'ecu-brake' }),
        }),
      },
      responses: {
        200: {
          description: 'The newest firmware',
          content: { 'application/json': { schema: FirmwareHintSchema } },
        },
        400: {
          description: 'Bad hardware ID',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        404: {
          description: 'No firmware for that hardware ID',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const { hardwareId } = c.req.valid('param');
      const hint = await ctx.service.latestFirmware(hardwareId);
      if (!hint) throw new ServerError('TARGET_NOT_FOUND', `no firmware for ${hardwareId}`);
      c.header('Cache-Control', `public, max-age=${ctx.config.timestampMaxAgeSeconds}`);
      return c.json({ hardwareId, ...hint }, 200);
    },
  );
}
