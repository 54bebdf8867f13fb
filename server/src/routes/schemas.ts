import { z } from '@hono/zod-openapi';
import {
  isValidHardwareId,
  isValidTargetName,
  SUPPLIER_HARDWARE_ID_PATTERN,
  SUPPLIER_ID_PATTERN,
} from '../http/names.js';

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

export const BUNDLE_MALFORMED = 'BUNDLE_MALFORMED';

/** Far above the ~6 levels a Sigstore bundle has; far below where a recursive walk overflows. */
const MAX_BUNDLE_DEPTH = 32;

/**
 * True for JSON that canonical JSON (OLPC, TUF) can encode: no fractions, nesting at most
 * `maxDepth`. Iterative, so the check itself cannot overflow the stack.
 */
export function isCanonicalEncodable(value: unknown, maxDepth: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'number' && !Number.isInteger(v)) return false;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= maxDepth) return false;
    for (const child of Object.values(v)) stack.push({ v: child, depth: depth + 1 });
  }
  return true;
}

/** A release's firmware attestation: fingerprinted with canonical JSON before it is verified. */
const FirmwareBundleSchema = BundleSchema.refine(
  (b) => isCanonicalEncodable(b, MAX_BUNDLE_DEPTH),
  BUNDLE_MALFORMED,
);

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
    attestation: FirmwareBundleSchema,
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
    status: z.enum(['pending', 'logged', 'confirmed', 'failed', 'revoked']).openapi({
      description:
        'pending (signed, not on chain) -> logged (mined; chain holds tx and block) -> confirmed (deep enough; served to vehicles)',
    }),
    targets: z.array(z.string()),
    metadataVersion: z
      .number()
      .int()
      .openapi({ description: 'the snapshot version logged on chain that published it' }),
    metadataHash: z
      .string()
      .nullable()
      .openapi({ description: '0x + sha256 of that snapshot, as logged on chain' }),
    chain: ChainRefSchema.nullable(),
    revocation: z
      .object({
        metadataVersion: z.number().int(),
        metadataHash: z.string(),
        chain: ChainRefSchema.nullable(),
      })
      .nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    deltas: z
      .array(
        z.object({
          image: z.string(),
          imageLength: z.number().int(),
          target: z.string(),
          length: z.number().int(),
          baseVersion: z.string(),
          baseSha256: z.string(),
        }),
      )
      .optional()
      .openapi({
        description:
          'publish and GET /releases/{id}: the deltas the current targets list for its images, with their sizes',
      }),
  })
  .openapi('Release');

export const FirmwareUploadSchema = z
  .object({ name: z.string(), length: z.number().int(), sha256: z.string(), sha512: z.string() })
  .openapi('FirmwareUpload');

export const RoleStatusSchema = z
  .object({
    role: z.string().openapi({
      description:
        'root, targets, snapshot, timestamp, a delegated role, or bins-* (the hashed bins)',
    }),
    version: z.number().int(),
    expires: z.string(),
    secondsToExpiry: z.number().int(),
    threshold: z.number().int(),
    keyIds: z.array(z.string()),
    onlineKeyIds: z.array(z.string()),
    signing: z.enum(['online', 'offline']),
    hardwareIds: z.array(z.string()).optional(),
    count: z.number().int().optional(),
  })
  .openapi('RoleStatus');

const TufKeySchema = z
  .object({
    keytype: z.enum(['ed25519', 'ecdsa']),
    scheme: z.enum(['ed25519', 'ecdsa-sha2-nistp256']),
    keyval: z.object({ public: z.string().min(1).max(4096) }),
  })
  .openapi('TufKey');

export const SupplierIdSchema = z
  .string()
  .regex(SUPPLIER_ID_PATTERN, 'INVALID_NAME')
  .openapi({ example: 'acme', description: 'a-z, 0-9 and -, up to 40 characters' });

export const SupplierRequestSchema = z
  .object({
    id: SupplierIdSchema,
    hardwareIds: z
      .array(z.string().regex(SUPPLIER_HARDWARE_ID_PATTERN, 'INVALID_HARDWARE_ID'))
      .min(1)
      .max(256),
    keys: z.array(TufKeySchema).min(1).max(16),
    threshold: z.number().int().min(1).max(16),
  })
  .openapi('SupplierRequest');

export const FirmwareHintSchema = z
  .object({
    hardwareId: z.string(),
    name: z.string(),
    role: z.string(),
    releaseCounter: z.number().int(),
    version: z.string(),
    sha256: z.string(),
    length: z.number().int(),
  })
  .openapi('FirmwareHint', {
    description:
      'the newest firmware target for a hardware ID; a hint only: vehicles resolve and verify the name through TUF and the chain',
  });

export const IdParamSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/)
    .openapi({ param: { name: 'id', in: 'path' }, example: '1' }),
});

export const NameParamSchema = z.object({
  name: TargetNameSchema.openapi({ param: { name: 'name', in: 'path' } }),
});

/** The 400, 401 and 403 answers of a route behind a bearer token, for its OpenAPI responses. */
export const tokenErrorResponses = {
  400: { description: 'Bad request', content: { 'application/json': { schema: ErrorSchema } } },
  401: {
    description: 'Missing or invalid token',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  403: {
    description: 'Token lacks the scope',
    content: { 'application/json': { schema: ErrorSchema } },
  },
};
