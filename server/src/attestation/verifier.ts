/** What a verified firmware attestation claims about an image. */
export interface FirmwareClaims {
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
}

import type { RecordedVehicleCertificate } from '@tufchain/keys';
import type { InstallPredicate } from '@tufchain/transparency/wire';

/** What a verified install attestation says, reduced to what the server indexes. */
export interface InstallClaims {
  vinCommitment: string;
  ecuSerial: string;
  targetName: string;
  result: string;
  /** The predicate's report counter: per ECU, each accepted report's is above the last one's. */
  counter: number;
  /**
   * The report's identity: hex sha256 of what the vehicle signed and with which key
   * (`signedContentDigest` of @tufchain/keys), whatever the bundle's encoding.
   */
  reportDigest: string;
  /** How the image came (delta or full, bytes over the network); absent from older agents. */
  install?: NonNullable<InstallPredicate['install']>;
  /**
   * Uptane: the report of a secondary ECU, signed by the vehicle (primary) certificate, which
   * names another ECU than the certificate's and must carry that ECU's own signed result
   * (`ecuResult`); the intake checks it against the ECU's registered key (ecu-result.ts).
   */
  ecuResult?: {
    director: NonNullable<InstallPredicate['director']>;
    ecuResult: NonNullable<InstallPredicate['ecuResult']>;
    to: InstallPredicate['to'];
    result: InstallPredicate['result'];
  };
}

/**
 * Attestation checks as a seam: the default implementation (createAttestationVerifier)
 * uses @tufchain/keys and @tufchain/transparency; unit tests may pass a double.
 * Both methods throw on anything that does not verify.
 */
export interface AttestationVerifier {
  verifyFirmware(
    bundle: unknown,
    expected: { name: string; sha256: string },
  ): Promise<FirmwareClaims>;
  /** `recorded`: the enrollment record of the bundle's certificate (ReportAdmission.recorded). */
  verifyInstall(
    bundle: unknown,
    options?: { recorded?: RecordedVehicleCertificate },
  ): Promise<InstallClaims>;
}
