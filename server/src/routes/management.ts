import { createRoute, z } from '@hono/zod-openapi';
import { canonicalize } from '@tufjs/canonical-json';
import { createHash } from 'node:crypto';
import { computeKeyId } from '@tufchain/keys';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { assertContentLength, bodyChunks, readBodyLimited } from '../http/body.js';
import { assertTargetName } from '../http/names.js';
import type { ReleaseRecord } from '../storage/store.js';
import { assertTufPublicKey } from '../tuf/public-key.js';
import { releaseDeltas } from '../tuf/release-deltas.js';
import { jsonBodyLimit } from './body-limit.js';
import { bearerAuth, requireScope } from './auth.js';
import {
  ErrorSchema,
  FirmwareUploadSchema,
  IdParamSchema,
  NameParamSchema,
  PublishRequestSchema,
  ReleaseSchema,
  RoleStatusSchema,
  SupplierIdSchema,
  SupplierRequestSchema,
  tokenErrorResponses,
} from './schemas.js';

export function releaseView(r: ReleaseRecord): z.infer<typeof ReleaseSchema> {
  return {
    id: r.id,
    status: r.status,
    targets: r.targetNames,
    metadataVersion: r.targetsVersion,
    metadataHash: r.metadataHash,
    chain: r.chain,
    revocation: r.revocation && {
      metadataVersion: r.revocation.targetsVersion,
      metadataHash: r.revocation.metadataHash,
      chain: r.revocation.chain,
    },
    error: r.error,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** releaseView with the deltas its images list now, and their sizes (publish, GET by id). */
async function releaseViewWithDeltas(
  ctx: ServerContext,
  r: ReleaseRecord,
): Promise<z.infer<typeof ReleaseSchema>> {
  // The release is published by now: a failed size lookup must not turn its answer into an error.
  // The served roles are read once for the whole release, on its first image.
  let index: Promise<Map<string, string[]>> | undefined;
  const deltas = await releaseDeltas(
    (p) => ctx.service.findTarget(p),
    r.targetNames,
    async (sha256) => (await (index ??= ctx.service.deltaTargetsIndex())).get(sha256) ?? [],
  ).catch(() => undefined);
  return { ...releaseView(r), ...(deltas ? { deltas } : {}) };
}

const idempotencyKey = /^[\x21-\x7e]{1,200}$/;

export function registerManagementRoutes(app: App, ctx: ServerContext): void {
  const jsonLimit = jsonBodyLimit(ctx.config.maxJsonBytes);

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/firmware/{name}',
      summary: 'Upload a firmware image (raw body, streamed to content-addressed storage)',
      security: bearerAuth('publish'),
      middleware: [requireScope(ctx, 'publish')] as const,
      request: {
        params: NameParamSchema,
        body: {
          content: {
            'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) },
          },
        },
      },
      responses: {
        201: {
          description: 'Stored',
          content: { 'application/json': { schema: FirmwareUploadSchema } },
        },
        ...tokenErrorResponses,
        409: {
          description: 'Name already released',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        413: { description: 'Too large', content: { 'application/json': { schema: ErrorSchema } } },
      },
    }),
    async (c) => {
      const name = assertTargetName(c.req.valid('param').name);
      if (await ctx.service.findTarget(name)) {
        throw new ServerError(
          'TARGET_ALREADY_RELEASED',
          `${name} is released; released images are immutable`,
        );
      }
      assertContentLength(c.req.raw, ctx.config.maxFirmwareBytes);
      const blob = await ctx.blobs.write(bodyChunks(c.req.raw), {
        maxBytes: ctx.config.maxFirmwareBytes,
      });
      await ctx.store.putUpload({ ...blob, name, uploadedAt: ctx.clock().toISOString() });
      ctx.logger.info({ name, length: blob.length, sha256: blob.sha256 }, 'firmware uploaded');
      return c.json({ name, ...blob }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/releases',
      summary: 'Sign, log on chain and publish a release; visible only after chain confirmation',
      security: bearerAuth('publish'),
      middleware: [requireScope(ctx, 'publish'), jsonLimit] as const,
      request: {
        headers: z.object({ 'idempotency-key': z.string().optional() }),
        body: { required: true, content: { 'application/json': { schema: PublishRequestSchema } } },
      },
      responses: {
        201: {
          description: 'Published',
          content: { 'application/json': { schema: z.object({ release: ReleaseSchema }) } },
        },
        ...tokenErrorResponses,
        409: {
          description:
            'A target already released or not newer; METADATA_VERSION_TAKEN: another replica staged that metadata version first (retry)',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        422: {
          description:
            'Invalid attestation or firmware; PERSONAL_DATA_REJECTED: a VIN-shaped hardware ID (the log names it in clear)',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        502: {
          description: 'Chain refused or failed; nothing published',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      if (body.targets.length > ctx.config.maxTargetsPerRelease) {
        throw new ServerError(
          'INVALID_REQUEST',
          `at most ${ctx.config.maxTargetsPerRelease} targets per release`,
        );
      }
      const key = c.req.header('idempotency-key');
      if (key !== undefined && !idempotencyKey.test(key)) {
        throw new ServerError(
          'INVALID_REQUEST',
          'Idempotency-Key must be 1-200 printable ASCII characters',
        );
      }
      const requestSha256 = createHash('sha256').update(canonicalize(body)).digest('hex');
      const outcome = await ctx.service.serialize(async () => {
        if (key !== undefined) {
          const seen = await ctx.store.idempotency(key);
          if (seen) {
            if (seen.route !== 'POST /api/v1/releases' || seen.requestSha256 !== requestSha256) {
              throw new ServerError(
                'IDEMPOTENCY_KEY_REUSED',
                'this Idempotency-Key was used for a different request',
              );
            }
            return { replayed: true, json: seen.responseJson };
          }
        }
        const started = performance.now();
        let result;
        try {
          result = await ctx.service.publishRelease(body.targets);
          ctx.metrics.publishes.inc({ result: 'ok' });
        } catch (error) {
          ctx.metrics.publishes.inc({ result: 'error' });
          throw error;
        } finally {
          ctx.metrics.publishSeconds.observe((performance.now() - started) / 1000);
        }
        const json = JSON.stringify({
          release: await releaseViewWithDeltas(ctx, result.release),
        });
        if (key !== undefined) {
          await ctx.store.saveIdempotency({
            key,
            route: 'POST /api/v1/releases',
            requestSha256,
            status: 201,
            responseJson: json,
            createdAt: ctx.clock().toISOString(),
          });
        }
        return { replayed: false, json };
      });
      const parsed = JSON.parse(outcome.json) as { release: z.infer<typeof ReleaseSchema> };
      if (outcome.replayed) c.header('Idempotent-Replayed', 'true');
      return c.json(parsed, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/releases',
      summary: 'List releases with their chain status',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      responses: {
        200: {
          description: 'Releases',
          content: {
            'application/json': { schema: z.object({ releases: z.array(ReleaseSchema) }) },
          },
        },
        ...tokenErrorResponses,
      },
    }),
    async (c) => c.json({ releases: (await ctx.store.releases()).map(releaseView) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/releases/{id}',
      summary: 'One release with its chain status',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: IdParamSchema },
      responses: {
        200: {
          description: 'Release',
          content: { 'application/json': { schema: z.object({ release: ReleaseSchema }) } },
        },
        ...tokenErrorResponses,
        404: {
          description: 'Unknown release',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const release = await ctx.store.release(Number(c.req.valid('param').id));
      if (!release) throw new ServerError('RELEASE_NOT_FOUND', 'no such release');
      return c.json({ release: await releaseViewWithDeltas(ctx, release) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/releases/{id}/revoke',
      summary: 'Revoke a release: re-sign targets without it and log that on chain',
      security: bearerAuth('revoke'),
      middleware: [requireScope(ctx, 'revoke'), jsonLimit] as const,
      request: {
        params: IdParamSchema,
        body: {
          required: true,
          content: {
            'application/json': { schema: z.object({ reason: z.string().min(1).max(500) }) },
          },
        },
      },
      responses: {
        200: {
          description: 'Revoked',
          content: { 'application/json': { schema: z.object({ release: ReleaseSchema }) } },
        },
        ...tokenErrorResponses,
        404: {
          description: 'Unknown release',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        409: {
          description: 'Already revoked',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        422: {
          description:
            'PERSONAL_DATA_REJECTED: a VIN-shaped reason (the chain and the log record it in clear)',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const release = await ctx.service.revokeRelease(
        Number(c.req.valid('param').id),
        c.req.valid('json').reason,
      );
      return c.json({ release: releaseView(release) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/metadata/targets',
      summary: 'Upload offline-signed targets metadata (k-of-n); verified against the trusted root',
      security: bearerAuth('publish'),
      middleware: [requireScope(ctx, 'publish')] as const,
      request: {
        body: {
          content: {
            'application/octet-stream': {
              schema: z
                .string()
                .openapi({ description: 'targets metadata JSON bytes, exactly as signed' }),
            },
          },
        },
      },
      responses: {
        201: {
          description: 'Published',
          content: { 'application/json': { schema: z.object({ release: ReleaseSchema }) } },
        },
        ...tokenErrorResponses,
        422: {
          description: 'Signatures below threshold or targets mismatch',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const bytes = await readBodyLimited(c.req.raw, ctx.config.maxJsonBytes);
      const result = await ctx.service.acceptSignedTargets(bytes);
      return c.json({ release: await releaseViewWithDeltas(ctx, result.release) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/metadata/root',
      summary: 'Rotate root: upload root N+1 signed by the old and the new root thresholds',
      security: bearerAuth('admin'),
      middleware: [requireScope(ctx, 'admin')] as const,
      request: {
        body: {
          content: {
            'application/octet-stream': {
              schema: z.string().openapi({ description: 'root metadata JSON bytes' }),
            },
          },
        },
      },
      responses: {
        201: {
          description: 'Rotated',
          content: { 'application/json': { schema: z.object({ version: z.number().int() }) } },
        },
        ...tokenErrorResponses,
        422: {
          description: 'Rotation invalid',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const bytes = await readBodyLimited(c.req.raw, ctx.config.maxJsonBytes);
      return c.json(await ctx.service.acceptRoot(bytes), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/status',
      summary: 'Role, key and expiry status',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      responses: {
        200: {
          description: 'Status',
          content: {
            'application/json': { schema: z.object({ roles: z.array(RoleStatusSchema) }) },
          },
        },
        ...tokenErrorResponses,
      },
    }),
    async (c) => c.json({ roles: await ctx.service.roleStatus() }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/suppliers',
      summary:
        "Delegate hardware IDs to a supplier's keys (re-signs top-level targets; online targets key)",
      security: bearerAuth('admin'),
      middleware: [requireScope(ctx, 'admin'), jsonLimit] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: SupplierRequestSchema } },
        },
      },
      responses: {
        201: {
          description: 'Delegated, logged and published',
          content: {
            'application/json': {
              schema: z.object({ role: z.string(), metadataVersion: z.number().int() }),
            },
          },
        },
        ...tokenErrorResponses,
        409: {
          description: 'Supplier exists, or targets is signed offline',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        422: {
          description: 'A hardware ID is already delegated',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      for (const key of body.keys) assertTufPublicKey(key);
      const keys = body.keys.map((k) => ({ keyId: computeKeyId(k), publicKey: k }));
      if (new Set(keys.map((k) => k.keyId)).size !== keys.length || body.threshold > keys.length) {
        throw new ServerError('INVALID_REQUEST', 'keys must be distinct and at least threshold');
      }
      const result = await ctx.service.addSupplier({
        id: body.id,
        hardwareIds: [...new Set(body.hardwareIds)],
        keys,
        threshold: body.threshold,
      });
      return c.json(result, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/suppliers/{id}/metadata',
      summary:
        "Upload a supplier's role metadata, signed offline by a threshold of the supplier's keys",
      security: bearerAuth('publish'),
      middleware: [requireScope(ctx, 'publish')] as const,
      request: {
        params: z.object({ id: SupplierIdSchema.openapi({ param: { name: 'id', in: 'path' } }) }),
        body: {
          content: {
            'application/octet-stream': {
              schema: z.string().openapi({ description: 'supplier-<id> metadata JSON bytes' }),
            },
          },
        },
      },
      responses: {
        201: {
          description: 'Published',
          content: { 'application/json': { schema: z.object({ release: ReleaseSchema }) } },
        },
        ...tokenErrorResponses,
        404: {
          description: 'No such supplier',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        422: {
          description: 'Below threshold, outside its hardware IDs, or targets mismatch',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const bytes = await readBodyLimited(c.req.raw, ctx.config.maxJsonBytes);
      const result = await ctx.service.acceptSupplierMetadata(c.req.valid('param').id, bytes);
      return c.json({ release: await releaseViewWithDeltas(ctx, result.release) }, 201);
    },
  );
}
