import { createRoute, z } from '@hono/zod-openapi';
import { jsonBodyLimit } from './body-limit.js';
import type { App, ServerContext } from '../context.js';
import type { VehicleService } from '../vehicles/service.js';
import { bearerAuth, requireScope } from './auth.js';
import { ErrorSchema } from './schemas.js';

const MAX_PEM_CHARS = 16 * 1024;
const crlDer = 'application/pkix-crl';
const crlPem = 'application/x-pem-file';

const PemSchema = (label: string) =>
  z
    .string()
    .min(1)
    .max(MAX_PEM_CHARS)
    .openapi({ description: `PEM (-----BEGIN ${label}-----)` });

const EnrollRequestSchema = z
  .object({ csr: PemSchema('CERTIFICATE REQUEST') })
  .openapi('VehicleEnrollRequest', {
    description:
      'PKCS#10 CSR signed by the vehicle key (ECDSA P-256); subject CN=<VIN commitment>, serialNumber=<ECU serial>. Never a VIN.',
  });

const ReenrollRequestSchema = z
  .object({ csr: PemSchema('CERTIFICATE REQUEST'), certificate: PemSchema('CERTIFICATE') })
  .openapi('VehicleReenrollRequest', {
    description:
      'A CSR for the same key as `certificate`, the current (possibly expired) vehicle certificate',
  });

const IssuedSchema = z
  .object({
    certificate: z.string(),
    caCertificate: z.string(),
    serialNumber: z.string(),
    vinCommitment: z.string(),
    ecuSerial: z.string(),
    notBefore: z.string(),
    notAfter: z.string(),
  })
  .openapi('VehicleCertificate');

const reasons = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
] as const;

const RevocationSchema = z
  .object({
    serialNumber: z.string(),
    revokedSerialNumbers: z.array(z.string()),
    revokedAt: z.string(),
    reason: z.enum(reasons),
    crlNumber: z.number().int(),
  })
  .openapi('VehicleRevocation');

const SerialParamSchema = z.object({
  serial: z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]{1,40}$/)
    .openapi({ param: { name: 'serial', in: 'path' }, example: '4f1c...' }),
});

const errors = (entries: Record<number, string>) =>
  Object.fromEntries(
    Object.entries(entries).map(([status, description]) => [
      status,
      { description, content: { 'application/json': { schema: ErrorSchema } } },
    ]),
  );

/** Vehicle enrollment, re-enrollment, revocation and the signed CRL. */
export function registerVehicleRoutes(
  app: App,
  ctx: ServerContext,
  vehicles: VehicleService,
): void {
  const jsonLimit = jsonBodyLimit(64 * 1024);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/vehicles/enroll',
      summary: 'Enroll a vehicle ECU: CSR in, certificate from the vehicle CA out (factory token)',
      security: bearerAuth('enroll'),
      middleware: [requireScope(ctx, 'enroll'), jsonLimit] as const,
      request: {
        body: { required: true, content: { 'application/json': { schema: EnrollRequestSchema } } },
      },
      responses: {
        201: { description: 'Issued', content: { 'application/json': { schema: IssuedSchema } } },
        ...errors({
          400: 'Malformed CSR, bad signature, subject without commitment, or a VIN in clear',
          401: 'Missing or invalid token',
          403: 'Token lacks the enroll scope',
          409: 'Key already enrolled for another vehicle',
          422: 'Key revoked',
          503: 'No vehicle CA configured',
        }),
      },
    }),
    async (c) => {
      const issued = await vehicles.enroll(c.req.valid('json').csr, c.get('token').id);
      return c.json(issued, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/vehicles/reenroll',
      summary:
        'Renew a vehicle certificate (also after expiry): authenticated by the vehicle key, which signs the CSR',
      middleware: [jsonLimit] as const,
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: ReenrollRequestSchema } },
        },
      },
      responses: {
        201: { description: 'Issued', content: { 'application/json': { schema: IssuedSchema } } },
        200: {
          description: 'A fresh certificate was already issued for this renewal',
          content: { 'application/json': { schema: IssuedSchema } },
        },
        ...errors({
          400: 'Malformed CSR or certificate, or a VIN in clear',
          409: 'Not due for renewal yet',
          422: 'Unknown, revoked or long-expired vehicle, or another key',
          503: 'No vehicle CA configured',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { issued, created } = await vehicles.reenroll(body.csr, body.certificate);
      return created ? c.json(issued, 201) : c.json(issued, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/vehicles/{serial}/revoke',
      summary:
        'Revoke a vehicle certificate and every certificate of the same key; re-signs the CRL',
      security: bearerAuth('revoke'),
      middleware: [requireScope(ctx, 'revoke'), jsonLimit] as const,
      request: {
        params: SerialParamSchema,
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({
                reason: z.enum(reasons),
                certificate: PemSchema('CERTIFICATE').optional().openapi({
                  description:
                    'For a certificate issued outside the enrollment API (factory PKCS#12): recorded, then revoked',
                }),
              }),
            },
          },
        },
      },
      responses: {
        200: {
          description: 'Revoked',
          content: { 'application/json': { schema: RevocationSchema } },
        },
        ...errors({
          400: 'Bad request',
          401: 'Missing or invalid token',
          403: 'Token lacks the revoke scope',
          404: 'Unknown certificate',
          409: 'Already revoked',
          503: 'No vehicle CA configured',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const revocation = await vehicles.revoke(
        c.req.valid('param').serial,
        body.reason,
        body.certificate,
      );
      return c.json(revocation, 200);
    },
  );

  const cacheControl = `public, max-age=${vehicles.config.crlMaxAgeSeconds}`;
  app.get('/api/v1/vehicles/crl', async (c) => {
    const crl = await vehicles.currentCrl();
    const base64 = crl.pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const der = Buffer.from(base64, 'base64');
    return new Response(c.req.method === 'HEAD' ? null : der, {
      status: 200,
      headers: {
        'Content-Type': crlDer,
        'Content-Length': String(der.length),
        'Cache-Control': cacheControl,
        ETag: `"crl-${crl.crlNumber}"`,
      },
    });
  });
  app.get('/api/v1/vehicles/crl.pem', async (c) => {
    const crl = await vehicles.currentCrl();
    return new Response(c.req.method === 'HEAD' ? null : crl.pem, {
      status: 200,
      headers: {
        'Content-Type': crlPem,
        'Cache-Control': cacheControl,
        ETag: `"crl-${crl.crlNumber}"`,
      },
    });
  });
  for (const [path, type] of [
    ['/api/v1/vehicles/crl', crlDer],
    ['/api/v1/vehicles/crl.pem', crlPem],
  ] as const) {
    app.openAPIRegistry.registerPath({
      method: 'get',
      path,
      summary:
        'X.509 CRL (RFC 5280 v2, CRL number) signed by the vehicle CA; verify it against the CA certificate',
      responses: {
        200: {
          description: 'The current CRL',
          content: { [type]: { schema: { type: 'string' as const, format: 'binary' } } },
        },
        503: { description: 'No vehicle CA configured' },
      },
    });
  }
}
