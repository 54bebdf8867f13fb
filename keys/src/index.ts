export { KeysError, type KeysErrorCode } from './error.js';
export { detectKeyType, type KeyType } from './key-type.js';
export { generateKeyPair } from './generate.js';
export { toTufPublicKey, computeKeyId, type TufPublicKey } from './tuf-key.js';
export {
  encryptPrivateKeyPkcs8,
  encryptPrivateKeyPem,
  decryptPrivateKey,
  defaultScryptParams,
  type ScryptParams,
} from './pkcs8.js';
export {
  writeEncryptedKeyFile,
  readEncryptedKeyFile,
  type WriteKeyFileOptions,
} from './key-file.js';
export { createKeySigner, createFileSigner, createEnvSigner, type Signer } from './signer.js';
export {
  createExternalSigner,
  ecdsaRawToDer,
  type ExternalSignerOptions,
} from './external-signer.js';
export {
  createExternalSecp256k1Signer,
  createSecp256k1FileSigner,
  createSecp256k1KeySigner,
  generateSecp256k1KeyPair,
  importSecp256k1PrivateKey,
  isSecp256k1Key,
  secp256k1Address,
  type ExternalSecp256k1SignerOptions,
  type Secp256k1Signer,
} from './secp256k1-signer.js';
export { signMetadata, canonicalSignedBytes } from './tuf/sign-metadata.js';
export { computeVinCommitment, isVinCommitment } from './vehicle/commitment.js';
export {
  createVehicleCa,
  issueVehicleCertificate,
  createVehicleIdentity,
  type VehicleCa,
  type VehicleIdentity,
  type IssueVehicleCertificateOptions,
} from './vehicle/ca.js';
export {
  verifyVehicleCertificate,
  verifyRecordedVehicleCertificate,
  vehicleCertificateSerial,
  normalizeSerial as normalizeCertificateSerial,
  type RecordedVehicleCertificate,
  type VerifyVehicleCertificateOptions,
  type VerifiedVehicleCertificate,
} from './vehicle/verify.js';
export {
  createVehicleCsr,
  verifyVehicleCsr,
  issueVehicleCertificateFromCsr,
  type ParsedVehicleCsr,
  type IssueFromCsrOptions,
} from './vehicle/csr.js';
export {
  createRevocationList,
  loadRevocationList,
  loadRevocationListDetailed,
  checkRevoked,
  type RevocationList,
  type DetailedRevocationList,
  type RevokedCertificate,
  type CrlReason,
  type RevocationReason,
  type RevokedCertificateEntry,
  type CreateRevocationListOptions,
} from './vehicle/revocation.js';
export { createPkcs12Bundle, readPkcs12Bundle, type Pkcs12Contents } from './vehicle/pkcs12.js';
// The vehicle-side attestation entry point, whole (see package.json exports).
export * from './entry/attestation.js';
export {
  defaultSigstoreServicesConfig,
  createSigstoreWitnesses,
  resolveSigstoreServices,
  type SigstoreServicesConfig,
} from './attestation/sigstore-services.js';
export {
  ROOT_CEREMONY_FORMAT,
  initRootCeremony,
  rotateRootCeremony,
  signRootCeremony,
  describeRootCeremony,
  finalizeRootCeremony,
  type RootCeremony,
  type RoleKeys,
  type RootRoles,
  type InitRootOptions,
  type RotateRootOptions,
  type CeremonyRequirement,
  type CeremonyStatus,
} from './ceremony/root-ceremony.js';
export { readCeremonyFile, writeCeremonyFile } from './ceremony/ceremony-file.js';
