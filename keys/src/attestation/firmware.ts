import { z } from 'zod';
import { KeysError } from '../error.js';
import type { Signer } from '../signer.js';
import {
  signStatementBundle,
  verifyStatementBundle,
  type SerializedBundle,
  type SignBundleOptions,
} from './bundle.js';
import {
  FIRMWARE_PREDICATE_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  type InTotoStatement,
} from './statement.js';

export interface FirmwarePredicate {
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
  build?: Record<string, unknown>;
}

export interface FirmwareAttestationInput extends FirmwarePredicate {
  /** TUF target name of the image. */
  name: string;
  /** Hex SHA-256 of the image bytes (an optional 0x prefix is dropped). */
  sha256: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

const predicateSchema = z.object({
  hardwareIds: z.array(z.string().min(1)).min(1),
  version: z.string().min(1),
  releaseCounter: z.number().int().nonnegative(),
  build: z.record(z.string(), z.unknown()).optional(),
});

function normalizeDigest(digest: string): string {
  const hex = digest.toLowerCase().replace(/^0x/, '');
  if (!SHA256_HEX.test(hex))
    throw new KeysError('INVALID_ARGUMENT', 'sha256 must be 64 hex characters');
  return hex;
}

export function createFirmwareStatement(
  input: FirmwareAttestationInput,
): InTotoStatement<FirmwarePredicate> {
  const predicate: FirmwarePredicate = {
    hardwareIds: input.hardwareIds,
    version: input.version,
    releaseCounter: input.releaseCounter,
    ...(input.build ? { build: input.build } : {}),
  };
  const parsed = predicateSchema.safeParse(predicate);
  if (!parsed.success || input.name.length === 0) {
    throw new KeysError(
      'INVALID_ARGUMENT',
      `invalid firmware attestation input: ${parsed.error?.message ?? 'empty name'}`,
    );
  }
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name: input.name, digest: { sha256: normalizeDigest(input.sha256) } }],
    predicateType: FIRMWARE_PREDICATE_TYPE,
    predicate,
  };
}

/** The OEM build key's statement about a firmware image, as a Sigstore bundle v0.3. */
export async function signFirmwareAttestation(
  input: FirmwareAttestationInput,
  signer: Signer,
  options: SignBundleOptions = {},
): Promise<SerializedBundle> {
  return signStatementBundle(createFirmwareStatement(input), signer, undefined, options);
}

/**
 * Verifies the bundle against the OEM firmware key, then that it is a firmware statement whose
 * subject carries the expected digest (and name, if given).
 * Codes: bundle codes, WRONG_PREDICATE_TYPE, MALFORMED_STATEMENT, SUBJECT_DIGEST_MISMATCH, SUBJECT_NAME_MISMATCH.
 */
export async function verifyFirmwareAttestation(
  bundle: unknown,
  trust: { publicKeyPem: string; keyId: string },
  expected: { sha256: string; name?: string },
  options: { at?: Date } = {},
): Promise<InTotoStatement<FirmwarePredicate>> {
  const statement = await verifyStatementBundle(bundle, trust, options);
  if (statement.predicateType !== FIRMWARE_PREDICATE_TYPE) {
    throw new KeysError(
      'WRONG_PREDICATE_TYPE',
      `expected ${FIRMWARE_PREDICATE_TYPE}, got ${statement.predicateType}`,
    );
  }
  const predicate = predicateSchema.safeParse(statement.predicate);
  if (!predicate.success) {
    throw new KeysError(
      'MALFORMED_STATEMENT',
      `invalid firmware predicate: ${predicate.error.message}`,
    );
  }
  const want = normalizeDigest(expected.sha256);
  const matching = statement.subject.filter((s) => s.digest.sha256?.toLowerCase() === want);
  if (matching.length === 0) {
    throw new KeysError(
      'SUBJECT_DIGEST_MISMATCH',
      'no subject of the attestation has the firmware digest',
    );
  }
  if (expected.name !== undefined && !matching.some((s) => s.name === expected.name)) {
    throw new KeysError(
      'SUBJECT_NAME_MISMATCH',
      `the attested subject is not named ${expected.name}`,
    );
  }
  const { build, ...rest } = predicate.data;
  return { ...statement, predicate: { ...rest, ...(build ? { build } : {}) } };
}
