import { createRoute, z } from '@hono/zod-openapi';
import {
  ecuRegistrationSchema,
  signedVehicleVersionManifestSchema,
} from '@tufchain/transparency/wire';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { jsonBodyLimit } from '../routes/body-limit.js';
import { ErrorSchema } from '../routes/schemas.js';
import { buildDirectorLogPromise } from './log-promise.js';
import type { DirectorService } from './service.js';
import { requireVehicle, vehicleSecurity } from './vehicle-auth.js';

const MAX_DIRECTOR_JSON_BYTES = 1024 * 1024;
const DEFAULT_SKEW_SECONDS = 300;

export function requireDirector(ctx: ServerContext): DirectorService {
  if (!ctx.director) {
    throw new ServerError('DIRECTOR_NOT_CONFIGURED', 'this server runs no Uptane Director');
  }
  return ctx.director;
}

const errors = (entries: Record<number, string>) =>
  Object.fromEntries(
    Object.entries(entries).map(([status, description]) => [
      status,
      { description, content: { 'application/json': { schema: ErrorSchema } } },
    ]),
  );

const vehicleErrors = {
  401: 'VEHICLE_SIGNATURE_MISSING, VEHICLE_SIGNATURE_INVALID or VEHICLE_SIGNATURE_STALE',
  422: 'VEHICLE_UNKNOWN (certificate never enrolled) or VEHICLE_REVOKED',
  503: 'DIRECTOR_NOT_CONFIGURED or DIRECTOR_NOT_INITIALIZED',
};

const FILE = /^(?:timestamp\.json|([1-9]\d{0,9})\.(root|snapshot|targets)\.json)$/;

/**
 * What a vehicle asks the Director (UPTANE.md): its metadata, the log's promise for a targets
 * version, ECU registration and version manifests. All vehicle-signed (RFC 9421) except the root.
 */
export function registerDirectorVehicleRoutes(app: App, ctx: ServerContext): void {
  const skew = ctx.config.directorRequestSkewSeconds ?? DEFAULT_SKEW_SECONDS;
  const vehicle = requireVehicle(ctx, skew);
  const jsonLimit = jsonBodyLimit(MAX_DIRECTOR_JSON_BYTES);
  app.openAPIRegistry.registerComponent('securitySchemes', 'vehicleSignature', {
    type: 'http',
    scheme: 'signature',
    description:
      'RFC 9421 HTTP Message Signature by the vehicle key (Signature-Input sig1, ecdsa-p256-sha256, keyid = certificate serial); see transparency/UPTANE.md',
  });

  // Bytes served as signed: a plain route, documented below.
  app.get(
    '/director/metadata/:file',
    async (c, next) => {
      const m = FILE.exec(c.req.param('file'));
      if (!m) throw new ServerError('METADATA_NOT_FOUND', 'no such Director metadata file');
      if (m[2] === 'root') return next();
      return vehicle(c, next);
    },
    async (c) => {
      const director = requireDirector(ctx);
      const m = FILE.exec(c.req.param('file'))!;
      const version = m[1] === undefined ? undefined : Number(m[1]);
      if (m[2] === 'root') {
        const root = await director.store.directorRoot(version!);
        if (!root) throw new ServerError('METADATA_NOT_FOUND', `no Director root ${version}`);
        return c.body(new Uint8Array(root.bytes), 200, {
          'content-type': 'application/json',
          'cache-control': 'public, max-age=31536000, immutable',
        });
      }
      const v = c.get('vehicle').vinCommitment;
      if (version === undefined) await director.refreshVehicle(v);
      const role = m[2] === undefined ? 'timestamp' : (m[2] as 'snapshot' | 'targets');
      const record = await director.repository.metadata(v, role, version);
      if (!record) {
        throw new ServerError(
          'METADATA_NOT_FOUND',
          `no Director ${role}${version ? ` version ${version}` : ''}`,
        );
      }
      return c.body(new Uint8Array(record.bytes), 200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      });
    },
  );
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/director/metadata/{file}',
    summary:
      "Director metadata: {N}.root.json (public), timestamp.json, {N}.snapshot.json, {N}.targets.json (the signing vehicle's own, no-store)",
    security: vehicleSecurity,
    request: {
      params: z.object({
        file: z.string().regex(FILE).openapi({ example: 'timestamp.json' }),
      }),
    },
    responses: {
      200: {
        description: 'Metadata bytes',
        content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
      },
      ...errors({ 404: 'METADATA_NOT_FOUND', ...vehicleErrors }),
    },
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/director/log-promise',
      summary:
        "The transparency log's promise for one of the signing vehicle's Director targets versions",
      security: vehicleSecurity,
      middleware: [vehicle] as const,
      request: {
        query: z.object({
          version: z
            .string()
            .regex(/^[1-9]\d{0,9}$/)
            .openapi({ example: '7' }),
        }),
      },
      responses: {
        200: {
          description: 'Entry, RFC 9162 inclusion proof and signed checkpoint',
          content: {
            'application/json': {
              schema: z
                .object({
                  mediaType: z.string(),
                  entry: z.object({ index: z.number().int(), data: z.string() }),
                  inclusionProof: z.object({
                    treeSize: z.number().int(),
                    hashes: z.array(z.string()),
                  }),
                  checkpoint: z.string(),
                })
                .openapi('DirectorLogPromise'),
            },
          },
        },
        ...errors({
          404: "DIRECTOR_VERSION_NOT_FOUND (not this vehicle's) or LOG_NOT_CONFIGURED",
          ...vehicleErrors,
        }),
      },
    }),
    async (c) => {
      const director = requireDirector(ctx);
      const version = Number(c.req.valid('query').version);
      const record = await director.repository.metadata(
        c.get('vehicle').vinCommitment,
        'targets',
        version,
      );
      if (!record) {
        throw new ServerError(
          'DIRECTOR_VERSION_NOT_FOUND',
          `no Director targets version ${version} for this vehicle`,
        );
      }
      if (record.logIndex === null) {
        throw new ServerError('LOG_NOT_CONFIGURED', `targets version ${version} was not logged`);
      }
      c.header('cache-control', 'no-store');
      return c.json(await buildDirectorLogPromise(ctx.log, record.logIndex), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/director/ecus',
      summary:
        "Register the vehicle's ECUs (OTA-CE DeviceRegistration); every change is kept as a new inventory version",
      security: vehicleSecurity,
      middleware: [jsonLimit, vehicle] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: ecuRegistrationSchema } },
        },
      },
      responses: {
        201: {
          description: 'A new inventory version',
          content: {
            'application/json': {
              schema: z.object({ version: z.number().int(), changed: z.boolean() }),
            },
          },
        },
        200: {
          description: 'The same inventory as the current version: nothing changed',
          content: {
            'application/json': {
              schema: z.object({ version: z.number().int(), changed: z.boolean() }),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST: not a DeviceRegistration',
          409: 'INVENTORY_CONFLICT',
          ...vehicleErrors,
          422: `${vehicleErrors[422]}; ECU_REGISTRATION_INVALID: the primary is not the certificate's ECU or key`,
        }),
      },
    }),
    async (c) => {
      const director = requireDirector(ctx);
      const result = await director.registerEcus(c.get('vehicle'), c.req.valid('json'));
      return c.json(result, result.changed ? 201 : 200);
    },
  );

  const ManifestResultSchema = z
    .object({
      id: z.number().int(),
      duplicate: z.boolean(),
      flags: z.array(z.object({ ecuSerial: z.string(), flag: z.string(), detail: z.string() })),
      completedAssignments: z.array(z.number().int()),
      targetsVersion: z.number().int().nullable(),
    })
    .openapi('DirectorManifestResult');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/director/manifest',
      summary:
        'Submit a vehicle version manifest (signed by the primary, one signed report per ECU); discrepancies are recorded as flags',
      security: vehicleSecurity,
      middleware: [jsonLimit, vehicle] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: signedVehicleVersionManifestSchema } },
        },
      },
      responses: {
        201: {
          description: 'Recorded, with its flags',
          content: { 'application/json': { schema: ManifestResultSchema } },
        },
        200: {
          description: 'The same manifest was recorded before',
          content: { 'application/json': { schema: ManifestResultSchema } },
        },
        ...errors({
          400: 'INVALID_REQUEST: not a manifest of the profile',
          ...vehicleErrors,
          422: `${vehicleErrors[422]}; MANIFEST_SIGNATURE_INVALID, MANIFEST_VEHICLE_MISMATCH, ECU_UNKNOWN (no inventory)`,
        }),
      },
    }),
    async (c) => {
      const director = requireDirector(ctx);
      const outcome = await director.submitManifest(c.get('vehicle'), c.req.valid('json'));
      return c.json(
        {
          id: outcome.record.id,
          duplicate: !outcome.created,
          flags: outcome.record.flags,
          completedAssignments: outcome.record.completedAssignments,
          targetsVersion: outcome.targetsVersion,
        },
        outcome.created ? 201 : 200,
      );
    },
  );
}
