/** What a verified firmware attestation claims about an image. */
export interface FirmwareClaims {
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
}

/** What a verified install attestation says, reduced to what the server indexes. */
export interface InstallClaims {
  vinCommitment: string;
  ecuSerial: string;
  targetName: string;
  result: string;
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
  verifyInstall(bundle: unknown): Promise<InstallClaims>;
}
