// @tufchain/keys/vehicle: what a vehicle needs on every start and update, and nothing that loads
// @peculiar/x509, @sigstore/* or node-forge's index (see the README, "Subpath entry points").
export { KeysError, type KeysErrorCode } from '../error.js';
export { detectKeyType, type KeyType } from '../key-type.js';
export { generateKeyPair } from '../generate.js';
export { toTufPublicKey, computeKeyId, type TufPublicKey } from '../tuf-key.js';
export { createKeySigner, createFileSigner, createEnvSigner, type Signer } from '../signer.js';
export { computeVinCommitment, isVinCommitment } from '../vehicle/commitment.js';
export {
  verifyVehicleCertificate,
  normalizeSerial as normalizeCertificateSerial,
  type VerifyVehicleCertificateOptions,
  type VerifiedVehicleCertificate,
} from '../vehicle/verify.js';
export { readPkcs12Bundle, type Pkcs12Contents } from '../vehicle/pkcs12.js';
