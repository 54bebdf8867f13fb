import type { FirmwareClaims } from '../attestation/verifier.js';
import { ServerError } from '../error.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RepositoryStore } from '../storage/store.js';

/** One image of a release, as the management API takes it. */
export interface ReleaseTargetInput {
  name: string;
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
  /** Lowest installed version this image may be installed over (semver), if any. */
  minFromVersion?: string | undefined;
  attestation: unknown;
}

/** The target that carries an image's Sigstore bundle. */
export const attestationTargetName = (name: string): string => `${name}.sigstore.json`;

/** A revoked release's image is never released again, under any name (TARGET_REVOKED). */
export async function refuseRevoked(
  store: RepositoryStore,
  sha256: string,
  name: string,
): Promise<void> {
  const revoked = await store.revokedDigest(sha256);
  if (revoked) {
    throw new ServerError(
      'TARGET_REVOKED',
      `${name} has the bytes (sha256 ${sha256}) of release ${revoked.releaseId}, revoked at ${revoked.revokedAt}`,
    );
  }
}

/** The attestation must claim exactly the hardware IDs, version and counter being released. */
export function assertClaimsMatch(
  t: Omit<ReleaseTargetInput, 'attestation'>,
  claims: FirmwareClaims,
): void {
  const same =
    claims.version === t.version &&
    claims.releaseCounter === t.releaseCounter &&
    claims.hardwareIds.length === t.hardwareIds.length &&
    [...claims.hardwareIds].sort().every((h, i) => h === [...t.hardwareIds].sort()[i]);
  if (!same) {
    throw new ServerError(
      'FIRMWARE_ATTESTATION_INVALID',
      `attestation for ${t.name} claims other hardware IDs, version or release counter`,
    );
  }
}

/** The release claims a firmware target's `custom` carries (METADATA_MALFORMED without them). */
export function firmwareInputOf(
  path: string,
  custom: Record<string, unknown>,
): Omit<ReleaseTargetInput, 'name' | 'attestation'> & { attestationName: string } {
  const { hardwareIds, version, releaseCounter, attestation } = custom;
  if (
    !Array.isArray(hardwareIds) ||
    hardwareIds.length === 0 ||
    !hardwareIds.every((h) => typeof h === 'string') ||
    typeof version !== 'string' ||
    typeof releaseCounter !== 'number' ||
    !Number.isSafeInteger(releaseCounter) ||
    typeof attestation !== 'string'
  ) {
    throw new ServerError(
      'METADATA_MALFORMED',
      `firmware target ${path} lacks hardwareIds, version, releaseCounter or attestation`,
    );
  }
  return { hardwareIds, version, releaseCounter, attestationName: attestation };
}

export async function readJsonBlob(blobs: BlobStore, sha256: string): Promise<unknown> {
  const bytes = await blobs.read(sha256);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
    throw new ServerError('FIRMWARE_ATTESTATION_INVALID', 'attestation target is not JSON', {
      cause: error,
    });
  }
}
