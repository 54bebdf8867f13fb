import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeysError } from '../error.js';
import { detectKeyType, requirePrivateKey } from '../key-type.js';
import { issueVehicleCertificate, type VehicleCa } from './ca.js';
import { checkEcuSerial, checkVinCommitment, isVinCommitment } from './commitment.js';
import { verifyVehicleCertificate } from './verify.js';
import {
  ECDSA_P256_SHA256,
  OID_COMMON_NAME,
  OID_SERIAL_NUMBER,
  toSigningCryptoKey,
  toVerifyingCryptoKey,
  x509,
} from './x509-provider.js';

/** A PKCS#10 request for a vehicle certificate, signed by the vehicle key (ECDSA P-256). */
export async function createVehicleCsr(
  privateKey: KeyObject,
  subject: { vinCommitment: string; ecuSerial: string },
): Promise<string> {
  if (requirePrivateKey(privateKey) !== 'ecdsa-p256') {
    throw new KeysError('WRONG_KEY_TYPE', 'a vehicle key must be ECDSA P-256');
  }
  checkVinCommitment(subject.vinCommitment);
  checkEcuSerial(subject.ecuSerial);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [
      { [OID_COMMON_NAME]: [subject.vinCommitment] },
      { [OID_SERIAL_NUMBER]: [subject.ecuSerial] },
    ],
    signingAlgorithm: ECDSA_P256_SHA256,
    keys: {
      privateKey: toSigningCryptoKey(privateKey),
      publicKey: toVerifyingCryptoKey(createPublicKey(privateKey)),
    },
  });
  return csr.toString('pem') + '\n';
}

export interface ParsedVehicleCsr {
  publicKey: KeyObject;
  vinCommitment: string | undefined;
  ecuSerial: string | undefined;
}

/** Parses a CSR and checks its self-signature (proof of possession). */
export async function verifyVehicleCsr(csrPem: string): Promise<ParsedVehicleCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  let publicKey: KeyObject;
  try {
    if (typeof csrPem !== 'string' || !csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
      throw new Error('not a PEM certificate request');
    }
    csr = new x509.Pkcs10CertificateRequest(csrPem);
    publicKey = createPublicKey({
      key: Buffer.from(csr.publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
  } catch (error) {
    throw new KeysError('MALFORMED_CSR', 'the certificate request does not parse', {
      cause: error,
    });
  }
  if (detectKeyType(publicKey) !== 'ecdsa-p256') {
    throw new KeysError('WRONG_KEY_TYPE', 'a vehicle key must be ECDSA P-256');
  }
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (error) {
    throw new KeysError(
      'CSR_SIGNATURE_INVALID',
      'the certificate request signature does not verify',
      { cause: error },
    );
  }
  if (!valid)
    throw new KeysError(
      'CSR_SIGNATURE_INVALID',
      'the certificate request signature does not verify',
    );
  const commitments = csr.subjectName.getField(OID_COMMON_NAME);
  const serials = csr.subjectName.getField(OID_SERIAL_NUMBER);
  return {
    publicKey,
    vinCommitment:
      commitments.length === 1 && commitments[0] && isVinCommitment(commitments[0])
        ? commitments[0]
        : undefined,
    ecuSerial: serials.length === 1 ? serials[0] : undefined,
  };
}

export interface IssueFromCsrOptions {
  /** The binding the enrollment service vouches for (factory record); must match the CSR subject if it has one. */
  vinCommitment?: string;
  ecuSerial?: string;
  /**
   * Re-enrollment: the vehicle's current certificate, possibly expired. It must come from this CA and not be
   * revoked, the CSR must hold the same key, and the new certificate keeps its VIN commitment and ECU serial.
   */
  previousCertificatePem?: string;
  revokedSerials?: ReadonlySet<string>;
  validDays?: number;
  notBefore?: Date;
  at?: Date;
}

/**
 * Issues a vehicle certificate from a CSR after checking its signature. The subject comes from the
 * options (enrollment record or previous certificate); a CSR subject that disagrees is refused.
 * Codes: MALFORMED_CSR, CSR_SIGNATURE_INVALID, WRONG_KEY_TYPE, CSR_SUBJECT_MISMATCH, KEY_MISMATCH,
 * INVALID_VIN_COMMITMENT, INVALID_ECU_SERIAL, and the certificate codes for `previousCertificatePem`.
 */
export async function issueVehicleCertificateFromCsr(
  ca: VehicleCa,
  csrPem: string,
  options: IssueFromCsrOptions = {},
): Promise<string> {
  const csr = await verifyVehicleCsr(csrPem);
  let vinCommitment = options.vinCommitment;
  let ecuSerial = options.ecuSerial;
  if (options.previousCertificatePem !== undefined) {
    const previous = verifyVehicleCertificate(options.previousCertificatePem, ca.certificatePem, {
      allowExpired: true,
      ...(options.at ? { at: options.at } : {}),
      ...(options.revokedSerials ? { revokedSerials: options.revokedSerials } : {}),
    });
    if (!previous.publicKey.equals(csr.publicKey)) {
      throw new KeysError(
        'KEY_MISMATCH',
        'a re-enrollment CSR must hold the key of the previous certificate',
      );
    }
    if (
      (vinCommitment ?? previous.vinCommitment) !== previous.vinCommitment ||
      (ecuSerial ?? previous.ecuSerial) !== previous.ecuSerial
    ) {
      throw new KeysError(
        'CSR_SUBJECT_MISMATCH',
        'the enrollment record disagrees with the previous certificate',
      );
    }
    vinCommitment = previous.vinCommitment;
    ecuSerial = previous.ecuSerial;
  }
  vinCommitment ??= csr.vinCommitment;
  ecuSerial ??= csr.ecuSerial;
  if (vinCommitment === undefined || ecuSerial === undefined) {
    throw new KeysError(
      'CSR_SUBJECT_MISMATCH',
      'neither the CSR nor the enrollment record names the vehicle',
    );
  }
  if (
    (csr.vinCommitment !== undefined && csr.vinCommitment !== vinCommitment) ||
    (csr.ecuSerial !== undefined && csr.ecuSerial !== ecuSerial)
  ) {
    throw new KeysError(
      'CSR_SUBJECT_MISMATCH',
      'the CSR subject does not match the enrolled vehicle',
    );
  }
  return issueVehicleCertificate(ca, {
    publicKey: csr.publicKey,
    vinCommitment,
    ecuSerial,
    ...(options.validDays !== undefined ? { validDays: options.validDays } : {}),
    ...(options.notBefore !== undefined ? { notBefore: options.notBefore } : {}),
  });
}
