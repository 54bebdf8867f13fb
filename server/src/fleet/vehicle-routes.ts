import { createRoute, z } from '@hono/zod-openapi';
import type { App, ServerContext } from '../context.js';
import { bearerAuth, requireScope } from '../routes/auth.js';
import { MAX_TAGS, modelSchema, modelYearSchema, regionSchema, tagSchema } from './attributes.js';
import {
  CommitmentParamSchema,
  CommitmentSchema,
  errors,
  jsonLimit,
  limitQuery,
  pageLimit,
  requireFleet,
} from './route-schemas.js';

/** Attributes are a handful of short strings: 16 KiB is ample. */
const ATTRIBUTES_MAX_BYTES = 16 * 1024;

const AttributesSchema = z
  .object({
    model: z.string().nullable(),
    modelYear: z.number().int().nullable(),
    region: z.string().nullable(),
    tags: z.array(z.string()),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .openapi('FleetVehicleAttributes');

export const FleetVehicleSchema = z
  .object({
    vehicle: z.string(),
    attributes: AttributesSchema.nullable(),
    ecus: z.array(
      z.object({
        ecuSerial: z.string(),
        hardwareId: z.string(),
        installed: z.object({ name: z.string(), sha256: z.string() }).nullable(),
      }),
    ),
  })
  .openapi('FleetVehicle', {
    description:
      'attributes: set by the OEM; ecus: the latest ECU inventory and, per ECU, the image of its latest trusted version report (signed data only)',
  });

const PutAttributesSchema = z
  .object({
    model: modelSchema.optional(),
    modelYear: modelYearSchema.optional(),
    region: regionSchema.optional(),
    tags: z.array(tagSchema).max(MAX_TAGS).optional(),
  })
  .strict()
  .openapi('FleetVehicleAttributesInput', {
    description: 'replaces every attribute (an omitted one becomes null, or no tags)',
  });

/** Vehicles of the fleet registry: list, one, and the OEM-set attributes. */
export function registerFleetVehicleRoutes(app: App, ctx: ServerContext): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/fleet/vehicles',
      summary: 'Known vehicles by commitment, with attributes, ECUs and installed images',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: {
        query: z.object({
          after: CommitmentSchema.optional().openapi({
            description: 'the last commitment of the previous page',
          }),
          limit: limitQuery(1000),
        }),
      },
      responses: {
        200: {
          description: 'A page of vehicles; nextAfter is null on the last page',
          content: {
            'application/json': {
              schema: z.object({
                vehicles: z.array(FleetVehicleSchema),
                nextAfter: z.string().nullable(),
              }),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = pageLimit(q.limit);
      const vehicles = await requireFleet(ctx).vehicles({
        ...(q.after === undefined ? {} : { after: q.after }),
        limit,
      });
      const nextAfter = vehicles.length === limit ? (vehicles.at(-1)?.vehicle ?? null) : null;
      return c.json({ vehicles, nextAfter }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/fleet/vehicles/{commitment}',
      summary: 'One vehicle of the registry',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: CommitmentParamSchema },
      responses: {
        200: {
          description: 'The vehicle',
          content: { 'application/json': { schema: FleetVehicleSchema } },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          404: 'VEHICLE_NOT_FOUND',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => c.json(await requireFleet(ctx).vehicle(c.req.valid('param').commitment), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/fleet/vehicles/{commitment}/attributes',
      summary: "Sets a known vehicle's model, model year, region and tags",
      security: bearerAuth('fleet'),
      middleware: [requireScope(ctx, 'fleet'), jsonLimit(ctx, ATTRIBUTES_MAX_BYTES)] as const,
      request: {
        params: CommitmentParamSchema,
        body: {
          required: true,
          content: { 'application/json': { schema: PutAttributesSchema } },
        },
      },
      responses: {
        200: {
          description: 'The stored attributes',
          content: { 'application/json': { schema: AttributesSchema } },
        },
        ...errors({
          400: 'INVALID_REQUEST or MALFORMED_JSON',
          401: 'UNAUTHENTICATED',
          403: 'INSUFFICIENT_SCOPE: needs fleet',
          404: 'VEHICLE_NOT_FOUND: neither enrolled nor registered with the Director',
          413: 'PAYLOAD_TOO_LARGE',
          422: 'PERSONAL_DATA_REJECTED: a value shaped like a VIN',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const stored = await requireFleet(ctx).setAttributes(
        c.req.valid('param').commitment,
        {
          model: body.model ?? null,
          modelYear: body.modelYear ?? null,
          region: body.region ?? null,
          tags: body.tags ?? [],
        },
        `token:${c.get('token').id}`,
      );
      return c.json(stored, 200);
    },
  );
}
