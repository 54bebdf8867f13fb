// @tufchain/keys/enrollment: a vehicle's rarer certificate work, the certificate signing request
// of a (re-)enrollment and the CA's revocation list. Loads @peculiar/x509.
export { createVehicleCsr } from '../vehicle/csr.js';
export {
  loadRevocationList,
  checkRevoked,
  type RevocationList,
  type RevocationReason,
  type RevokedCertificateEntry,
} from '../vehicle/revocation.js';
