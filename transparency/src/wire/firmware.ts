import { z } from 'zod';
import { TransparencyError } from '../error.js';

export const FIRMWARE_PREDICATE_TYPE = 'https://tufchain.dev/attestation/firmware/v1';

export const firmwarePredicateSchema = z.object({
  hardwareIds: z.array(z.string().min(1)).min(1),
  version: z.string().min(1),
  releaseCounter: z.number().int().nonnegative(),
  build: z.record(z.string(), z.unknown()).optional(),
});

export type FirmwarePredicate = z.infer<typeof firmwarePredicateSchema>;

/** Validates a firmware predicate (the `predicate` of a firmware in-toto statement). */
export function parseFirmwarePredicate(x: unknown): FirmwarePredicate {
  const result = firmwarePredicateSchema.safeParse(x);
  if (!result.success) {
    throw new TransparencyError(
      'MALFORMED_ATTESTATION',
      `firmware predicate is malformed: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}
