import { z } from 'zod';
import { TransparencyError } from '../error.js';
import { signedEcuInstallResultSchema } from './director.js';

export const INSTALL_PREDICATE_TYPE = 'https://tufchain.dev/attestation/install/v1';

/** 32 bytes of hex, with or without a `0x` prefix (in-toto digests have none, chain hashes have one). */
const hash32 = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'expected 32 bytes of hex');
const uint = z.number().int().nonnegative();
const isoTime = z.iso.datetime({ offset: true });

const installedTarget = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  releaseCounter: uint,
  digest: hash32,
});

const previousTarget = z.object({
  name: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
  releaseCounter: uint.optional(),
  digest: hash32,
});

/**
 * How the image reached the slot: from a delta or the full image, the error code that made the
 * agent abandon a delta (never its free-text message: the report is public), and the bytes that
 * came over the network for it. Optional: older agents do not send it.
 */
export const installPathSchema = z
  .strictObject({
    path: z.enum(['delta', 'full']),
    fallback: z.strictObject({ code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/) }).optional(),
    networkBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  })
  .refine((p) => p.path === 'full' || p.fallback === undefined, {
    message: 'only a full install falls back from a delta',
    path: ['fallback'],
  });

export type InstallPath = z.infer<typeof installPathSchema>;

export const installPredicateSchema = z.object({
  vehicle: z.object({ commitment: hash32 }),
  ecu: z.object({ serial: z.string().min(1), hardwareId: z.string().min(1) }),
  from: previousTarget.nullable(),
  to: installedTarget,
  result: z.enum(['SUCCESS', 'FAILURE', 'ROLLED_BACK']),
  startedAt: isoTime,
  finishedAt: isoTime,
  odometerKm: z.number().nonnegative().finite(),
  /** Monotonic per-vehicle report counter. */
  counter: uint,
  metadata: z.object({ targetsVersion: uint, targetsHash: hash32 }),
  /** The confirmed chain block the agent used as its trusted time. */
  checkpoint: z.object({
    chainId: uint,
    blockNumber: uint,
    blockHash: hash32,
    timestamp: uint,
  }),
  /**
   * Uptane (UPTANE.md): the Director targets version this install carried out, and, for a
   * secondary ECU, that ECU's own signed install result. A report for a secondary without it is
   * refused: the primary never reports an ECU's outcome on that ECU's unsigned word.
   */
  director: z
    .object({
      targetsVersion: z.number().int().positive(),
      targetsHash: z.string().regex(/^[0-9a-f]{64}$/),
      correlationId: z.string().max(160).nullable(),
    })
    .optional(),
  ecuResult: signedEcuInstallResultSchema.optional(),
  install: installPathSchema.optional(),
});

export type InstallPredicate = z.infer<typeof installPredicateSchema>;
export type InstallResult = InstallPredicate['result'];

/** Validates an install predicate (the `predicate` of an install in-toto statement). */
export function parseInstallPredicate(x: unknown): InstallPredicate {
  const install =
    typeof x === 'object' && x !== null ? (x as { install?: unknown }).install : undefined;
  if (install !== undefined) {
    const path = installPathSchema.safeParse(install);
    if (!path.success) {
      throw new TransparencyError(
        'INSTALL_PATH_MALFORMED',
        `install predicate's install path is malformed: ${z.prettifyError(path.error)}`,
      );
    }
  }
  const result = installPredicateSchema.safeParse(x);
  if (!result.success) {
    throw new TransparencyError(
      'MALFORMED_ATTESTATION',
      `install predicate is malformed: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}
