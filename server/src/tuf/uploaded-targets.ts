import type { Metadata, TargetFile, Targets } from '@tufjs/models';
import type { FirmwareClaims } from '../attestation/verifier.js';
import { ServerError } from '../error.js';
import { isValidTargetPath } from '../http/names.js';
import type { RepositoryCore } from './core/repository-core.js';
import type { DeltaImage } from './deltas.js';
import {
  assertClaimsMatch,
  firmwareInputOf,
  readJsonBlob,
  refuseRevoked,
} from './firmware-target.js';
import { supplierFor, type SupplierDelegation } from './layout.js';
import { targetAt } from './metadata.js';
import type { PublishResult } from './releases.js';
import type { ReleaseEntry } from './release-log.js';
import { sha256Hex } from './signer.js';

// Checks shared by every targets-role metadata signed offline and uploaded (top-level targets,
// a supplier's role).

/**
 * Checks the targets listed by uploaded metadata against uploaded blobs and attestations and
 * returns the chain entries for the firmware it adds. `previous` is what the same role listed
 * before (released targets are immutable).
 */
export async function checkUploadedTargets(
  core: RepositoryCore,
  md: Metadata<Targets>,
  previous: Record<string, TargetFile>,
  scope: SupplierDelegation | undefined,
): Promise<{ firmware: ReleaseEntry['firmware']; added: string[]; images: DeltaImage[] }> {
  const firmware: ReleaseEntry['firmware'] = [];
  const added: string[] = [];
  const images: DeltaImage[] = [];
  for (const [path, file] of Object.entries(md.signed.targets)) {
    if (!isValidTargetPath(path)) {
      throw new ServerError(
        'INVALID_NAME',
        `target name ${JSON.stringify(path.slice(0, 60))} is not allowed`,
      );
    }
    if (scope && supplierFor(path, [scope]) === undefined) {
      throw new ServerError(
        'HARDWARE_ID_NOT_DELEGATED',
        `${path} is outside ${scope.role}'s paths (${scope.hardwareIds.map((h) => `${h}/*`).join(', ')})`,
      );
    }
    const sha256 = file.hashes.sha256;
    const blob = sha256 ? await core.store.blobBySha256(sha256) : undefined;
    if (
      !blob ||
      blob.length !== file.length ||
      (file.hashes.sha512 !== undefined && file.hashes.sha512 !== blob.sha512)
    ) {
      throw new ServerError('TARGETS_MISMATCH', `target ${path} does not match any uploaded blob`);
    }
    const old = targetAt(previous, path);
    if (old) {
      if (!old.equals(file))
        throw new ServerError(
          'TARGETS_MISMATCH',
          `target ${path} changed; released targets are immutable`,
        );
      continue;
    }
    const custom = file.custom;
    if (custom.kind !== 'firmware') continue;
    await refuseRevoked(core.store, blob.sha256, path);
    const input = firmwareInputOf(path, custom);
    if (scope) {
      const outside = input.hardwareIds.filter((h) => !scope.hardwareIds.includes(h));
      if (outside.length > 0) {
        throw new ServerError(
          'HARDWARE_ID_NOT_DELEGATED',
          `${scope.role} may not sign firmware for ${outside.join(', ')} (${path})`,
        );
      }
    }
    const bundleFile = targetAt(md.signed.targets, input.attestationName);
    if (!bundleFile?.hashes.sha256) {
      throw new ServerError(
        'FIRMWARE_ATTESTATION_INVALID',
        `target ${path} names no attestation target in the metadata`,
      );
    }
    const bundle = await readJsonBlob(core.blobs, bundleFile.hashes.sha256);
    let claims: FirmwareClaims;
    try {
      claims = await core.verifier.verifyFirmware(bundle, { name: path, sha256: blob.sha256 });
    } catch (error) {
      throw new ServerError(
        'FIRMWARE_ATTESTATION_INVALID',
        `attestation for ${path} does not verify`,
        {
          cause: error,
        },
      );
    }
    assertClaimsMatch({ name: path, ...input }, claims);
    added.push(path);
    images.push({
      name: path,
      hardwareIds: input.hardwareIds,
      releaseCounter: input.releaseCounter,
      sha256: blob.sha256,
    });
    for (const hardwareId of input.hardwareIds) {
      firmware.push({ digest: `0x${blob.sha256}`, hardwareId, version: input.releaseCounter });
    }
  }
  return { firmware, added, images };
}

/** Uploaded metadata must be newer than `floor` and not expired. */
export function assertFresh(
  core: RepositoryCore,
  md: Metadata<Targets>,
  floor: number,
  what: string,
): void {
  if (md.signed.version <= floor) {
    throw new ServerError('VERSION_NOT_INCREASING', `${what} version must be above ${floor}`);
  }
  if (md.signed.isExpired(core.clock())) {
    throw new ServerError('METADATA_MALFORMED', `uploaded ${what} metadata is already expired`);
  }
}

/**
 * An upload of exactly the bytes already served for the role (a retry after a lost answer)
 * gets the release that published them, instead of VERSION_NOT_INCREASING.
 */
export async function replayedUpload(
  core: RepositoryCore,
  role: string,
  bytes: Uint8Array,
): Promise<PublishResult | undefined> {
  const current = await core.store.currentMetadataDigest(role);
  if (current?.sha256 !== sha256Hex(bytes)) return undefined;
  const batch = await core.store.metadataBatch(role, current.version);
  const id = /^release:(\d+)$/.exec(batch ?? '')?.[1];
  const release = id ? await core.store.release(Number(id)) : undefined;
  if (!release?.chain || !release.metadataHash) return undefined;
  return {
    release,
    targetsVersion: release.targetsVersion,
    metadataHash: release.metadataHash,
    chain: release.chain,
  };
}
