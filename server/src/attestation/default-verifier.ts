import {
  KeysError,
  verifyFirmwareAttestation,
  verifyStatementBundleDetailed,
  type VerifiedStatementBundle,
} from '@tufchain/keys';
import {
  INSTALL_PREDICATE_TYPE,
  parseInstallPredicate,
  TransparencyError,
} from '@tufchain/transparency';
import { systemClock, type Clock } from '../config.js';
import { ServerError } from '../error.js';
import type { AttestationVerifier, FirmwareClaims, InstallClaims } from './verifier.js';

const bareHex = (h: string): string => h.toLowerCase().replace(/^0x/, '');

/**
 * Firmware attestations: Sigstore bundle signed by the OEM firmware key.
 * Install attestations: Sigstore bundle whose certificate chains to the vehicle CA, in the one
 * canonical encoding (REPORT_NOT_CANONICAL); the predicate's vehicle commitment and ECU serial
 * must be the certificate's.
 */
export function createAttestationVerifier(opts: {
  firmwareKey: { publicKeyPem: string; keyId: string };
  vehicleCaPem: string;
  clock?: Clock;
}): AttestationVerifier {
  const clock = opts.clock ?? systemClock;
  return {
    async verifyFirmware(bundle, expected): Promise<FirmwareClaims> {
      const statement = await verifyFirmwareAttestation(bundle, opts.firmwareKey, expected, {
        at: clock(),
      });
      const { hardwareIds, version, releaseCounter } = statement.predicate;
      return { hardwareIds, version, releaseCounter };
    },
    async verifyInstall(bundle, options = {}): Promise<InstallClaims> {
      let verified: VerifiedStatementBundle;
      try {
        verified = await verifyStatementBundleDetailed(
          bundle,
          {
            caCertificatePem: opts.vehicleCaPem,
            ...(options.recorded ? { recorded: options.recorded } : {}),
          },
          // An expired certificate never bricks reporting; the intake flags it (VehicleService).
          // Only the one encoding the vehicle writes: a replay cannot pass as a new report.
          { at: clock(), allowExpiredCertificate: true, canonicalOnly: true },
        );
      } catch (error) {
        if (
          error instanceof KeysError &&
          (error.code === 'BUNDLE_NOT_CANONICAL' || error.code === 'SIGNATURE_NOT_CANONICAL')
        ) {
          throw new ServerError('REPORT_NOT_CANONICAL', `${error.message} (${error.code})`, {
            cause: error,
          });
        }
        throw error;
      }
      const { statement, signer, signedContentDigest } = verified;
      if (signer.kind !== 'certificate') {
        throw new ServerError(
          'INSTALL_ATTESTATION_INVALID',
          'install attestations are signed with a vehicle certificate',
        );
      }
      if (statement.predicateType !== INSTALL_PREDICATE_TYPE) {
        throw new ServerError(
          'INSTALL_ATTESTATION_INVALID',
          `predicateType must be ${INSTALL_PREDICATE_TYPE}`,
        );
      }
      const predicate = parseSignedPredicate(statement.predicate);
      if (bareHex(predicate.vehicle.commitment) !== bareHex(signer.vinCommitment)) {
        throw new ServerError(
          'ATTESTATION_IDENTITY_MISMATCH',
          'the predicate names another vehicle than the certificate',
        );
      }
      // The primary reports for its secondaries (Uptane), but never on a secondary's unsigned word.
      const forSecondary = predicate.ecu.serial !== signer.ecuSerial;
      if (forSecondary && !predicate.director) {
        throw new ServerError(
          'ATTESTATION_IDENTITY_MISMATCH',
          'the predicate names another ECU than the certificate',
        );
      }
      if (forSecondary && !predicate.ecuResult) {
        throw new ServerError(
          'ECU_RESULT_UNSIGNED',
          `the report for secondary ECU ${predicate.ecu.serial} carries no result signed by that ECU`,
        );
      }
      const subjectMatches = statement.subject.some(
        (s) =>
          s.name === predicate.to.name &&
          bareHex(s.digest.sha256 ?? '') === bareHex(predicate.to.digest),
      );
      if (!subjectMatches) {
        throw new ServerError(
          'INSTALL_ATTESTATION_INVALID',
          'the statement subject is not the installed target',
        );
      }
      const ecuResult =
        predicate.director && predicate.ecuResult
          ? {
              director: predicate.director,
              ecuResult: predicate.ecuResult,
              to: predicate.to,
              result: predicate.result,
            }
          : undefined;
      return {
        vinCommitment: bareHex(signer.vinCommitment),
        ecuSerial: predicate.ecu.serial,
        ...(ecuResult ? { ecuResult } : {}),
        targetName: predicate.to.name,
        result: predicate.result,
        counter: predicate.counter,
        reportDigest: signedContentDigest,
        ...(predicate.install ? { install: predicate.install } : {}),
      };
    },
  };
}

/** A malformed install path (delta or full) gets its own code; older agents send none. */
function parseSignedPredicate(predicate: unknown): ReturnType<typeof parseInstallPredicate> {
  try {
    return parseInstallPredicate(predicate);
  } catch (error) {
    if (error instanceof TransparencyError && error.code === 'INSTALL_PATH_MALFORMED') {
      throw new ServerError('INSTALL_PATH_MALFORMED', error.message, { cause: error });
    }
    throw error;
  }
}
