import { createRoute, z } from '@hono/zod-openapi';
import { ecuSerialSchema, targetPathSchema } from '@tufchain/transparency/wire';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { bearerAuth, requireScope } from '../routes/auth.js';
import { jsonBodyLimit } from '../routes/body-limit.js';
import { ErrorSchema } from '../routes/schemas.js';
import type { AssignmentRecord, DirectorMetadataRecord } from './store.js';
import { requireDirector } from './vehicle-routes.js';

const errors = (entries: Record<number, string>) =>
  Object.fromEntries(
    Object.entries(entries).map(([status, description]) => [
      status,
      { description, content: { 'application/json': { schema: ErrorSchema } } },
    ]),
  );

const VehicleCommitmentSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .openapi({ description: 'VIN commitment (64 hex), never a VIN' });

const AssignedImageSchema = z.object({
  ecuSerial: z.string(),
  hardwareId: z.string(),
  name: z.string(),
  length: z.number().int(),
  sha256: z.string(),
  sha512: z.string().optional(),
  releaseCounter: z.number().int(),
});

const AssignmentSchema = z
  .object({
    id: z.number().int(),
    vehicle: z.string(),
    correlationId: z.string(),
    atomic: z.boolean(),
    status: z.enum(['active', 'cancelled', 'completed']),
    images: z.array(AssignedImageSchema),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    manifestId: z.number().int().nullable(),
  })
  .openapi('DirectorAssignment');

const AssignRequestSchema = z
  .object({
    vehicle: VehicleCommitmentSchema,
    images: z
      .array(z.object({ ecuSerial: ecuSerialSchema, name: targetPathSchema }).strict())
      .min(1)
      .max(256),
    atomic: z.boolean().optional().openapi({
      description: 'install as one set, all or none (default: true with more than one image)',
    }),
    correlationId: z
      .string()
      .regex(/^urn:tufchain:[a-z-]+:[A-Za-z0-9._:-]{1,128}$/)
      .optional()
      .openapi({ description: 'default urn:tufchain:assignment:<random>; campaigns pass theirs' }),
  })
  .strict()
  .openapi('DirectorAssignRequest');

const IdParamSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/)
    .openapi({ param: { name: 'id', in: 'path' }, example: '7' }),
});

const CommitmentParamSchema = z.object({
  commitment: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .openapi({ param: { name: 'commitment', in: 'path' } }),
});

const view = (a: AssignmentRecord) => a;

/** The OEM side of the Director: assignments, ECU inventory history, manifests, root rotation. */
export function registerDirectorOemRoutes(app: App, ctx: ServerContext): void {
  const jsonLimit = jsonBodyLimit(256 * 1024);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/director/assignments',
      summary:
        "Assign image-repository images to ECUs of one vehicle; the vehicle's next Director targets version lists them",
      security: bearerAuth('director:assign'),
      middleware: [requireScope(ctx, 'director:assign'), jsonLimit] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: AssignRequestSchema } },
        },
      },
      responses: {
        201: {
          description: 'Assigned, signed and logged',
          content: {
            'application/json': {
              schema: z.object({
                assignment: AssignmentSchema,
                targetsVersion: z.number().int(),
              }),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          403: 'INSUFFICIENT_SCOPE: needs director:assign',
          409: 'VEHICLE_ALREADY_ASSIGNED or CORRELATION_ID_REUSED',
          422: 'ECU_UNKNOWN, IMAGE_NOT_IN_REPOSITORY or HARDWARE_ID_MISMATCH',
          503: 'DIRECTOR_NOT_CONFIGURED or DIRECTOR_NOT_INITIALIZED',
        }),
      },
    }),
    async (c) => {
      const director = requireDirector(ctx);
      const assignment = await director.assign(c.req.valid('json'), `token:${c.get('token').id}`);
      const targets = await director.repository.metadata(assignment.vehicle, 'targets');
      return c.json({ assignment: view(assignment), targetsVersion: targets?.version ?? 0 }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/director/assignments',
      summary: 'Director assignments, oldest first (any OEM token)',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: {
        query: z.object({
          vehicle: VehicleCommitmentSchema.optional(),
          status: z.enum(['active', 'cancelled', 'completed']).optional(),
        }),
      },
      responses: {
        200: {
          description: 'Assignments',
          content: {
            'application/json': { schema: z.object({ assignments: z.array(AssignmentSchema) }) },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          503: 'DIRECTOR_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const list = await requireDirector(ctx).assignments({
        ...(q.vehicle ? { vehicle: q.vehicle } : {}),
        ...(q.status ? { status: q.status } : {}),
      });
      return c.json({ assignments: list.map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/director/assignments/{id}',
      summary: 'One Director assignment (any OEM token)',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: IdParamSchema },
      responses: {
        200: {
          description: 'The assignment',
          content: { 'application/json': { schema: AssignmentSchema } },
        },
        ...errors({
          401: 'UNAUTHENTICATED',
          404: 'ASSIGNMENT_NOT_FOUND',
          503: 'DIRECTOR_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) =>
      c.json(view(await requireDirector(ctx).assignment(Number(c.req.valid('param').id))), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/director/assignments/{id}/cancel',
      summary:
        "Cancel an active assignment; the vehicle's next Director targets version lists nothing",
      security: bearerAuth('director:assign'),
      middleware: [requireScope(ctx, 'director:assign')] as const,
      request: { params: IdParamSchema },
      responses: {
        200: {
          description: 'Cancelled',
          content: {
            'application/json': {
              schema: z.object({
                assignment: AssignmentSchema,
                targetsVersion: z.number().int(),
              }),
            },
          },
        },
        ...errors({
          401: 'UNAUTHENTICATED',
          403: 'INSUFFICIENT_SCOPE: needs director:assign',
          404: 'ASSIGNMENT_NOT_FOUND',
          409: 'ASSIGNMENT_NOT_ACTIVE',
          503: 'DIRECTOR_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const director = requireDirector(ctx);
      const assignment = await director.cancel(Number(c.req.valid('param').id));
      const targets = await director.repository.metadata(assignment.vehicle, 'targets');
      return c.json({ assignment: view(assignment), targetsVersion: targets?.version ?? 0 }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/vehicles/{commitment}/ecus/history',
      summary:
        "Every version of a vehicle's registered ECU inventory, oldest first (any OEM token)",
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: CommitmentParamSchema },
      responses: {
        200: {
          description: 'Inventory versions',
          content: {
            'application/json': {
              schema: z.object({
                versions: z.array(
                  z.object({
                    version: z.number().int(),
                    registration: z.record(z.string(), z.unknown()),
                    signerSerial: z.string(),
                    createdAt: z.string(),
                  }),
                ),
              }),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          503: 'DIRECTOR_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const history = await requireDirector(ctx).inventoryHistory(c.req.valid('param').commitment);
      return c.json(
        {
          versions: history.map((h) => ({
            version: h.version,
            registration: h.registration,
            signerSerial: h.signerSerial,
            createdAt: h.createdAt,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/vehicles/{commitment}/manifests',
      summary:
        "A vehicle's recorded version manifests with their flags, oldest first (any OEM token)",
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: CommitmentParamSchema },
      responses: {
        200: {
          description: 'Manifests',
          content: {
            'application/json': {
              schema: z.object({
                manifests: z.array(
                  z.object({
                    id: z.number().int(),
                    receivedAt: z.string(),
                    flags: z.array(
                      z.object({ ecuSerial: z.string(), flag: z.string(), detail: z.string() }),
                    ),
                    completedAssignments: z.array(z.number().int()),
                    manifest: z.record(z.string(), z.unknown()),
                  }),
                ),
              }),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          503: 'DIRECTOR_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const list = await requireDirector(ctx).manifests(c.req.valid('param').commitment);
      return c.json(
        {
          manifests: list.map((m) => ({
            id: m.id,
            receivedAt: m.receivedAt,
            flags: m.flags,
            completedAssignments: m.completedAssignments,
            manifest: m.manifest as Record<string, unknown>,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/vehicles/{commitment}/director/targets',
      summary:
        "Every Director targets version served to a vehicle, oldest first, with the salt that opens its log entry's ECU commitments and the exact bytes served (any OEM token)",
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: CommitmentParamSchema },
      responses: {
        200: {
          description: 'Targets versions and their openings',
          content: {
            'application/json': {
              schema: z
                .object({
                  vehicle: z.string(),
                  versions: z.array(
                    z.object({
                      targetsVersion: z.number().int(),
                      targetsHash: z
                        .string()
                        .openapi({ description: 'sha256 of the bytes served' }),
                      logIndex: z.number().int().nullable(),
                      ecuSalt: z.string().openapi({
                        description:
                          '64 hex: the salt of the entry ECU commitments (computeEcuCommitment); never public',
                      }),
                      metadata: z
                        .string()
                        .openapi({ description: 'base64 of the exact signed targets.json served' }),
                    }),
                  ),
                })
                .openapi('DirectorTargetsOpenings'),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          404: 'VEHICLE_NOT_FOUND',
          503: 'DIRECTOR_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const vehicle = c.req.valid('param').commitment;
      const list = await requireDirector(ctx).targetsOpenings(vehicle);
      return c.json(
        {
          vehicle,
          versions: list.map((r) => ({
            targetsVersion: r.version,
            targetsHash: r.sha256,
            logIndex: r.logIndex,
            ecuSalt: Buffer.from(saltOf(r)).toString('hex'),
            metadata: Buffer.from(r.bytes).toString('base64'),
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/director/root',
      summary:
        'Rotate the Director root: root N+1 signed offline by a threshold of root N and of its own root keys (admin)',
      security: bearerAuth('admin'),
      middleware: [
        requireScope(ctx, 'admin'),
        jsonLimit,
        // The exact bytes signed offline are kept: read them before the JSON validator does.
        async (c, next) => {
          await c.req.arrayBuffer();
          await next();
        },
      ] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
        },
      },
      responses: {
        201: {
          description: 'Accepted; vehicles are re-signed under it on their next fetch',
          content: { 'application/json': { schema: z.object({ version: z.number().int() }) } },
        },
        ...errors({
          400: 'METADATA_MALFORMED',
          401: 'UNAUTHENTICATED',
          403: 'INSUFFICIENT_SCOPE: needs admin',
          422: 'ROOT_ROTATION_INVALID, METADATA_SIGNATURE_INVALID',
          409: 'ONLINE_KEY_NOT_AUTHORIZED: the server holds no threshold of the new online keys',
          503: 'DIRECTOR_NOT_CONFIGURED or DIRECTOR_NOT_INITIALIZED',
        }),
      },
    }),
    async (c) => {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      return c.json(await requireDirector(ctx).repository.acceptRoot(bytes), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/audit/director-targets',
      summary:
        'Every Director targets version served, per vehicle commitment, with its sha256 and log index (public, for auditors)',
      responses: {
        200: {
          description: 'Versions',
          content: {
            'application/json': {
              schema: z.object({
                versions: z.array(
                  z.object({
                    vehicle: z.string(),
                    version: z.number().int(),
                    sha256: z.string(),
                    logIndex: z.number().int().nullable(),
                  }),
                ),
              }),
            },
          },
        },
        ...errors({ 503: 'DIRECTOR_NOT_CONFIGURED' }),
      },
    }),
    async (c) => {
      const list = await requireDirector(ctx).store.publishedDirectorTargets();
      return c.json(
        {
          versions: list.map((r) => ({
            vehicle: r.vehicle,
            version: r.version,
            sha256: r.sha256,
            logIndex: r.logIndex,
          })),
        },
        200,
      );
    },
  );
}

/** Every targets version is salted when signed (DirectorRepository.refresh). */
function saltOf(r: DirectorMetadataRecord): Uint8Array {
  if (!r.ecuSalt) {
    throw new ServerError('INTERNAL', `targets version ${r.version} of a vehicle has no ECU salt`);
  }
  return r.ecuSalt;
}
