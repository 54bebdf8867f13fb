// @tufchain/keys/attestation: in-toto statements as Sigstore DSSE bundles, signed and verified
// offline (firmware attestations, install reports). @sigstore/sign's service clients (Fulcio,
// Rekor, TSA) load only when a signature asks for them.
export type { Signer } from '../signer.js';
export {
  IN_TOTO_STATEMENT_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  FIRMWARE_PREDICATE_TYPE,
  type InTotoStatement,
  type InTotoSubject,
} from '../attestation/statement.js';
export {
  signStatementBundle,
  signedContentDigest,
  verifyStatementBundle,
  verifyStatementBundleDetailed,
  type SerializedBundle,
  type BundleTrust,
  type VerifyBundleOptions,
  type BundleSignerInfo,
  type VerifiedStatementBundle,
  type SignBundleOptions,
} from '../attestation/bundle.js';
export {
  isCanonicalEcdsaSignature,
  normalizeEcdsaSignature,
} from '../attestation/ecdsa-signature.js';
export {
  signFirmwareAttestation,
  verifyFirmwareAttestation,
  createFirmwareStatement,
  type FirmwarePredicate,
  type FirmwareAttestationInput,
} from '../attestation/firmware.js';
