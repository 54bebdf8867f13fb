import { verifyFirmwareAttestation } from '@tufchain/keys/attestation';
import { AgentError } from '../error.js';

export interface FirmwareKey {
  publicKeyPem: string;
  /** TUF key id of the OEM firmware-attestation key (the bundle's publicKey hint). */
  keyId: string;
}

export interface AttestedFirmware {
  name: string;
  sha256: string;
  hardwareId: string;
  releaseCounter: number;
}

/**
 * Verifies the firmware's Sigstore bundle (DSSE over an in-toto statement) with the pinned OEM key;
 * its subject digest must be the TUF target's sha256, and its predicate must name this hardware ID
 * and release counter.
 */
export async function verifyFirmwareBundle(
  bundleBytes: Uint8Array,
  key: FirmwareKey,
  firmware: AttestedFirmware,
): Promise<void> {
  let bundle: unknown;
  try {
    bundle = JSON.parse(Buffer.from(bundleBytes).toString('utf8'));
  } catch (err) {
    throw new AgentError('ATTESTATION_INVALID', 'firmware attestation is not JSON', { cause: err });
  }
  let statement;
  try {
    statement = await verifyFirmwareAttestation(bundle, key, {
      sha256: firmware.sha256,
      name: firmware.name,
    });
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    throw new AgentError(
      code === 'SUBJECT_DIGEST_MISMATCH' ? 'SUBJECT_DIGEST_MISMATCH' : 'ATTESTATION_INVALID',
      `firmware attestation of ${firmware.name} rejected: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const subjects = statement.subject.map((s) => s.digest['sha256']);
  if (!subjects.includes(firmware.sha256)) {
    throw new AgentError('SUBJECT_DIGEST_MISMATCH', 'attestation subject is not this image');
  }
  const predicate = statement.predicate as {
    hardwareIds?: unknown;
    releaseCounter?: unknown;
  };
  if (
    !Array.isArray(predicate.hardwareIds) ||
    !predicate.hardwareIds.includes(firmware.hardwareId) ||
    predicate.releaseCounter !== firmware.releaseCounter
  ) {
    throw new AgentError(
      'ATTESTATION_INVALID',
      'attestation predicate does not match the target hardware ID or release counter',
    );
  }
}
