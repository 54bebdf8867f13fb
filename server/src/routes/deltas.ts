import { createRoute, z } from '@hono/zod-openapi';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { isValidHardwareId, isValidTargetPath } from '../http/names.js';
import { jsonBodyLimit } from './body-limit.js';
import { bearerAuth, requireScope } from './auth.js';
import { ErrorSchema, INVALID_NAME, tokenErrorResponses } from './schemas.js';

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));

const DeltaImageSchema = z
  .object({
    name: z.string().max(300).refine(isValidTargetPath, { message: INVALID_NAME }).openapi({
      example: 'ecu-brake-2.2.0.bin',
      description: 'the target path the image will have: a flat name, or <hardware ID>/<name>',
    }),
    sha256: hex(64).openapi({ description: 'of the uploaded image (PUT /api/v1/firmware/{name})' }),
    hardwareIds: z
      .array(z.string().max(128).refine(isValidHardwareId, { message: 'INVALID_HARDWARE_ID' }))
      .min(1)
      .max(64),
    releaseCounter: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  })
  .openapi('DeltaImage');

const DeltasRequestSchema = z
  .object({ images: z.array(DeltaImageSchema).min(1).max(10_000) })
  .openapi('DeltasRequest');

const DeltaTargetSchema = z
  .object({
    path: z.string().openapi({ example: 'ecu-brake-2.2.0.bin.from-3f2a9c0d1e4b5a69.delta' }),
    length: z.number().int(),
    hashes: z.object({ sha256: z.string(), sha512: z.string() }),
    custom: z.record(z.string(), z.unknown()).openapi({
      description:
        "{ kind: 'delta', format, target, targetSha256, targetLength, base: { name, version, releaseCounter, sha256, length } }",
    }),
  })
  .openapi('DeltaTarget', { description: 'a TUF target, to list beside the image' });

const DeltasResponseSchema = z
  .object({
    images: z.array(
      z.object({
        name: z.string(),
        sha256: z.string(),
        deltas: z.array(DeltaTargetSchema),
        links: z
          .array(z.object({ target: z.string(), baseSha256: z.string(), baseVersion: z.string() }))
          .openapi({ description: "the image's custom.deltas" }),
      }),
    ),
  })
  .openapi('Deltas');

/**
 * `POST /api/v1/deltas`: the deltas to the images a release signed offline will add, for its
 * signers to list in that same metadata (offline-deltas.ts). Mutating (it stores the delta
 * blobs), so it needs the scope of the uploads it goes with: publish.
 */
export function registerDeltaRoutes(app: App, ctx: ServerContext): void {
  const jsonLimit = jsonBodyLimit(ctx.config.maxJsonBytes);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/deltas',
      summary:
        'Make the deltas to uploaded images a release signed offline will add, for its signers to list (flat repository)',
      description:
        "Each delta (from the newest earlier images of the image's hardware IDs) is stored as a blob; the answer gives its TUF target and the links for the image's custom.deltas. Asking again for the same image gives the same answer. The upload of the signed metadata (PUT /api/v1/metadata/targets) checks every listed delta against its blob.",
      security: bearerAuth('publish'),
      middleware: [requireScope(ctx, 'publish'), jsonLimit] as const,
      request: {
        body: { required: true, content: { 'application/json': { schema: DeltasRequestSchema } } },
      },
      responses: {
        200: {
          description: 'The deltas, per image (none for a first release or with deltas off)',
          content: { 'application/json': { schema: DeltasResponseSchema } },
        },
        ...tokenErrorResponses,
        400: {
          description:
            'INVALID_REQUEST (too many images, a malformed digest), INVALID_NAME, DUPLICATE_TARGET',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        409: {
          description:
            'TARGET_ALREADY_RELEASED: an image name is released; TARGET_REVOKED: these image bytes were revoked',
          content: { 'application/json': { schema: ErrorSchema } },
        },
        422: {
          description: 'FIRMWARE_NOT_UPLOADED: no uploaded blob has the image digest',
          content: { 'application/json': { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const { images } = c.req.valid('json');
      if (images.length > ctx.config.maxTargetsPerRelease) {
        throw new ServerError(
          'INVALID_REQUEST',
          `at most ${ctx.config.maxTargetsPerRelease} images per release`,
        );
      }
      const prepared = await ctx.service.prepareOfflineDeltas(
        images.map((i) => ({ ...i, hardwareIds: [...new Set(i.hardwareIds)] })),
      );
      return c.json(
        {
          images: prepared.map((p) => ({
            name: p.name,
            sha256: p.sha256,
            deltas: p.targets.map((f) => ({
              path: f.path,
              length: f.length,
              hashes: { sha256: f.hashes.sha256 ?? '', sha512: f.hashes.sha512 ?? '' },
              custom: f.custom,
            })),
            links: p.links,
          })),
        },
        200,
      );
    },
  );
}
