import { z } from '@hono/zod-openapi';
import { isValidHardwareId, isValidTargetName } from '../http/names.js';

export const INVALID_NAME = 'INVALID_NAME';

const semver =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const TargetNameSchema = z
  .string()
  .max(200)
  .refine(isValidTargetName, { message: INVALID_NAME })
  .openapi({
    example: 'ecu-brake-2.1.0.bin',
    description: 'flat file name: [A-Za-z0-9._+-], no ".."',
  });

export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

export const BundleSchema = z
  .record(z.string(), z.unknown())
  .openapi('SigstoreBundle', { description: 'Sigstore bundle v0.3 JSON (DSSE + in-toto v1)' });

export const ReleaseTargetSchema = z
  .object({
    name: TargetNameSchema,
    hardwareIds: z
      .array(z.string().max(128).refine(isValidHardwareId, { message: 'INVALID_HARDWARE_ID' }))
      .min(1)
      .max(64),
    version: z.string().max(64).regex(semver, 'version must be semver'),
    releaseCounter: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    minFromVersion: z.string().max(64).regex(semver).optional(),
    attestation: BundleSchema,
  })
  .openapi('ReleaseTarget');

export const PublishRequestSchema = z
  .object({ targets: z.array(ReleaseTargetSchema).min(1).max(10_000) })
  .openapi('PublishRequest');

export const ChainRefSchema = z
  .object({ txHash: z.string(), blockNumber: z.number().int(), blockHash: z.string() })
  .openapi('ChainRef');

export const ReleaseSchema = z
  .object({
    id: z.number().int(),
    status: z.enum(['pending', 'confirmed', 'failed', 'revoked']),
    targets: z.array(z.string()),
    targetsVersion: z.number().int(),
    metadataHash: z.string().nullable(),
    chain: ChainRefSchema.nullable(),
    revocation: z
      .object({
        targetsVersion: z.number().int(),
        metadataHash: z.string(),
        chain: ChainRefSchema.nullable(),
      })
      .nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Release');

export const FirmwareUploadSchema = z
  .object({ name: z.string(), length: z.number().int(), sha256: z.string(), sha512: z.string() })
  .openapi('FirmwareUpload');

export const RoleStatusSchema = z
  .object({
    role: z.enum(['root', 'targets', 'snapshot', 'timestamp']),
    version: z.number().int(),
    expires: z.string(),
    secondsToExpiry: z.number().int(),
    threshold: z.number().int(),
    keyIds: z.array(z.string()),
    onlineKeyIds: z.array(z.string()),
    signing: z.enum(['online', 'offline']),
  })
  .openapi('RoleStatus');

export const IdParamSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/)
    .openapi({ param: { name: 'id', in: 'path' }, example: '1' }),
});

export const NameParamSchema = z.object({
  name: TargetNameSchema.openapi({ param: { name: 'name', in: 'path' } }),
});
