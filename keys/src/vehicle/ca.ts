import { generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { KeysError } from '../error.js';
import { detectKeyType, requirePrivateKey, toPublicKeyObject } from '../key-type.js';
import { checkEcuSerial, checkVinCommitment, computeVinCommitment } from './commitment.js';
import {
  ECDSA_P256_SHA256,
  OID_COMMON_NAME,
  OID_SERIAL_NUMBER,
  randomSerialNumber,
  toSigningCryptoKey,
  toVerifyingCryptoKey,
  x509,
  type CryptoKey,
} from './x509-provider.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// Backdating absorbs clock skew between the CA and vehicles.
const BACKDATE_MS = 5 * 60 * 1000;

export interface VehicleCa {
  certificatePem: string;
  privateKey: KeyObject;
}

export interface VehicleIdentity {
  privateKey: KeyObject;
  certificatePem: string;
  vinCommitment: string;
  ecuSerial: string;
  /** The commitment salt; the OEM keeps it to recompute the commitment from the VIN. */
  salt: Uint8Array;
}

export interface IssueVehicleCertificateOptions {
  publicKey: KeyObject;
  vinCommitment: string;
  ecuSerial: string;
  validDays?: number;
  notBefore?: Date;
}

function checkValidDays(validDays: number): void {
  if (!Number.isFinite(validDays) || validDays <= 0) {
    throw new KeysError('INVALID_ARGUMENT', 'validDays must be a positive number');
  }
}

function requireP256(key: KeyObject, what: string): void {
  if (detectKeyType(key) !== 'ecdsa-p256') {
    throw new KeysError('WRONG_KEY_TYPE', `${what} must be an ECDSA P-256 key`);
  }
}

/** A self-signed ECDSA P-256 CA that issues vehicle certificates (pathLen 0). */
export async function createVehicleCa(opts: {
  commonName: string;
  validDays?: number;
  notBefore?: Date;
}): Promise<VehicleCa> {
  const validDays = opts.validDays ?? 3650;
  checkValidDays(validDays);
  if (typeof opts.commonName !== 'string' || opts.commonName.trim().length === 0) {
    throw new KeysError('INVALID_ARGUMENT', 'the CA needs a common name');
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const keys = {
    privateKey: toSigningCryptoKey(privateKey),
    publicKey: toVerifyingCryptoKey(publicKey),
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ [OID_COMMON_NAME]: [opts.commonName] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * DAY_MS),
    signingAlgorithm: ECDSA_P256_SHA256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificatePem: cert.toString('pem') + '\n', privateKey };
}

/** Parses and sanity-checks a CA; throws CA_CERTIFICATE_INVALID. */
export function loadVehicleCa(ca: VehicleCa): {
  cert: x509.X509Certificate;
  signingKey: CryptoKey;
} {
  requirePrivateKey(ca.privateKey);
  requireP256(ca.privateKey, 'the CA key');
  let nodeCert: X509Certificate;
  let cert: x509.X509Certificate;
  try {
    nodeCert = new X509Certificate(ca.certificatePem);
    cert = new x509.X509Certificate(ca.certificatePem);
  } catch (error) {
    throw new KeysError('CA_CERTIFICATE_INVALID', 'the CA certificate does not parse', {
      cause: error,
    });
  }
  if (!nodeCert.ca || !nodeCert.checkPrivateKey(ca.privateKey)) {
    throw new KeysError(
      'CA_CERTIFICATE_INVALID',
      'the CA certificate is not a CA or does not match its key',
    );
  }
  return { cert, signingKey: toSigningCryptoKey(ca.privateKey) };
}

/** Issues a vehicle certificate (clientAuth) binding the VIN commitment (CN) and ECU serial (serialNumber). */
export async function issueVehicleCertificate(
  ca: VehicleCa,
  opts: IssueVehicleCertificateOptions,
): Promise<string> {
  const validDays = opts.validDays ?? 1825;
  checkValidDays(validDays);
  checkVinCommitment(opts.vinCommitment);
  checkEcuSerial(opts.ecuSerial);
  const publicKey = toPublicKeyObject(opts.publicKey);
  requireP256(publicKey, 'a vehicle key');
  const { cert: caCert, signingKey } = loadVehicleCa(ca);
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const vehiclePublicKey = toVerifyingCryptoKey(publicKey);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [
      { [OID_COMMON_NAME]: [opts.vinCommitment] },
      { [OID_SERIAL_NUMBER]: [opts.ecuSerial] },
    ],
    issuer: caCert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * DAY_MS),
    signingAlgorithm: ECDSA_P256_SHA256,
    publicKey: vehiclePublicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(vehiclePublicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** Generates a vehicle key pair and its certificate; the VIN leaves only as a salted commitment. */
export async function createVehicleIdentity(
  ca: VehicleCa,
  opts: { vin: string; salt?: Uint8Array; ecuSerial: string; validDays?: number; notBefore?: Date },
): Promise<VehicleIdentity> {
  const salt = opts.salt ?? randomBytes(32);
  const vinCommitment = computeVinCommitment(opts.vin, salt);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const certificatePem = await issueVehicleCertificate(ca, {
    publicKey,
    vinCommitment,
    ecuSerial: opts.ecuSerial,
    ...(opts.validDays !== undefined ? { validDays: opts.validDays } : {}),
    ...(opts.notBefore !== undefined ? { notBefore: opts.notBefore } : {}),
  });
  return { privateKey, certificatePem, vinCommitment, ecuSerial: opts.ecuSerial, salt };
}
