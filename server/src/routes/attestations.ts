import { createRoute, z } from '@hono/zod-openapi';
import { parseCanonicalJson } from '@tufchain/transparency';
import { createHash } from 'node:crypto';
import type { App, ServerContext } from '../context.js';
import { checkEcuResult } from '../attestation/ecu-result.js';
import { noHint, readFirmwareHint } from '../http/metadata-warm.js';
import { ServerError } from '../error.js';
import { jsonBodyLimit } from './body-limit.js';
import { BundleSchema, ErrorSchema, FirmwareHintSchema } from './schemas.js';
import { loggableInstallAttestation } from '../log/loggable.js';
import {
  appendInstallAttestation,
  inclusionPromise,
  InclusionPromiseSchema,
  type InclusionPromise,
} from '../log/promise.js';

/** A stored bundle as JSON; rows from before canonicalJson may hold raw control characters. */
function storedBundle(row: { id: number; bundleJson: string }): Record<string, unknown> {
  try {
    return parseCanonicalJson(row.bundleJson) as Record<string, unknown>;
  } catch (error) {
    throw new ServerError('STORAGE_FAILED', `stored report ${row.id} is not JSON`, {
      cause: error,
    });
  }
}

export function registerAttestationRoutes(app: App, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/attestations',
      summary:
        'Submit an install attestation (authenticated by the vehicle certificate and signature)',
      middleware: [jsonBodyLimit(ctx.config.maxJsonBytes)] as const,
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
          description:
            'Already stored: the same signed statement by the same key, in any encoding the intake accepts',
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
        409: {
          description:
            'REPORT_COUNTER_REPLAYED: another report of this ECU has this counter or a higher one',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        422: {
          description:
            'Does not verify, or REPORT_NOT_CANONICAL: not the one encoding the vehicle writes; INSTALL_PATH_MALFORMED: the optional `install` field (delta or full, fallback code, bytes over the network) is malformed; for a secondary ECU (Uptane), ECU_RESULT_UNSIGNED (no result signed by that ECU), ECU_RESULT_SIGNATURE_INVALID (not signed by its registered key), ECU_RESULT_MISMATCH (the signed result says otherwise); PERSONAL_DATA_REJECTED: its signed payload holds something shaped like a VIN (an ECU serial), which the public list and the log would show in clear',
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
        claims = await ctx.verifier.verifyInstall(
          bundle,
          admission?.recorded ? { recorded: admission.recorded } : {},
        );
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
      // A secondary's outcome counts only on that ECU's own signature (transparency/UPTANE.md).
      await checkEcuResult(claims, ctx.director?.store).catch((error: unknown) => {
        ctx.metrics.attestations.inc({ result: 'rejected' });
        throw error;
      });
      // Its signed payload is served and logged as it is: a VIN-shaped ECU serial would be in clear.
      // The entry is encoded here once; bundleJson, always valid JSON, is the bundle inside it.
      let encoded;
      try {
        encoded = loggableInstallAttestation(bundle);
      } catch (error) {
        ctx.metrics.attestations.inc({ result: 'rejected' });
        throw error;
      }
      const { entry, bundleJson } = encoded;
      // No lock around storing and logging: two copies of one report (a resend, another replica)
      // store one row and append one entry, because the log appends a bundle once (appendOnce).
      const stored = await ctx.store
        .insertAttestation({
          reportSha256: claims.reportDigest,
          counter: claims.counter,
          bundleSha256: createHash('sha256').update(bundleJson).digest('hex'),
          bundleJson,
          vinCommitment: claims.vinCommitment,
          ecuSerial: claims.ecuSerial,
          targetName: claims.targetName,
          result: claims.result,
          receivedAt: ctx.clock().toISOString(),
        })
        .catch((error: unknown) => {
          ctx.metrics.attestations.inc({ result: 'rejected' });
          throw error;
        });
      ctx.metrics.attestations.inc({ result: stored.created ? 'stored' : 'duplicate' });
      const { id, created } = stored;
      let logIndex = stored.logIndex;
      let promise: InclusionPromise | undefined;
      if (ctx.log && logIndex === null) {
        // Also heals a report stored before a crash but never appended: the agent resends it.
        // What is logged is the bundle as first stored, whatever encoding the resend used.
        ({ logIndex, promise } = created
          ? await appendInstallAttestation(ctx.log, bundle, entry)
          : await appendInstallAttestation(ctx.log, storedBundle(stored)));
        await ctx.store.setAttestationLogIndex(stored.id, logIndex);
      } else if (ctx.log && logIndex !== null) {
        promise = await inclusionPromise(ctx.log, logIndex);
      }
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
          attestations: rows.map(storedBundle),
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
      const hint = await readFirmwareHint(ctx, hardwareId, c.req.path);
      if (!hint) throw noHint(hardwareId);
      return c.json(hint.body, 200, { 'Cache-Control': hint.cacheControl });
    },
  );
}
