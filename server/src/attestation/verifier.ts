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
  /** The predicate's report counter: per ECU, each accepted report's is above the last one's. */
  counter: number;
  /**
   * The report's identity: hex sha256 of what the vehicle signed and with which key
   * (`signedContentDigest` of @tufchain/keys), whatever the bundle's encoding.
   */
  reportDigest: string;
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
