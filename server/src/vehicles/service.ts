import { createHash, type KeyObject } from 'node:crypto';
import {
  createRevocationList,
  issueVehicleCertificateFromCsr,
  KeysError,
  normalizeCertificateSerial,
  vehicleCertificateSerial,
  verifyRecordedVehicleCertificate,
  verifyVehicleCertificate,
  verifyVehicleCsr,
  type RecordedVehicleCertificate,
  type RevocationReason,
  type VehicleCa,
  type VerifiedVehicleCertificate,
} from '@tufchain/keys';
import type { Logger } from 'pino';
import type { Clock } from '../config.js';
import { ServerError, type ServerErrorCode } from '../error.js';
import { Mutex } from '../mutex.js';
import type { RepositoryStore } from '../storage/store.js';
import type { VehicleCertificateRecord, VehicleCrlRecord } from '../storage/vehicle-store.js';
import type { VehicleEnrollmentConfig } from './config.js';
import { csrNamesVin } from './csr-subject.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// Backdating absorbs clock skew between the server and vehicles.
const BACKDATE_MS = 5 * 60 * 1000;

/** What enrollment and re-enrollment answer. */
export interface IssuedVehicleCertificate {
  certificate: string;
  caCertificate: string;
  serialNumber: string;
  vinCommitment: string;
  ecuSerial: string;
  notBefore: string;
  notAfter: string;
}

export interface VehicleRevocation {
  serialNumber: string;
  /** Every certificate of the same vehicle key, revoked together. */
  revokedSerialNumbers: string[];
  revokedAt: string;
  reason: RevocationReason;
  crlNumber: number;
}

/** How an install report's certificate stands; `certificateExpired` reports are accepted, flagged. */
export interface ReportAdmission {
  serialNumber: string;
  certificateExpired: boolean;
  /** The enrollment record of the report's certificate, for the verifier (BundleTrust.recorded). */
  recorded?: RecordedVehicleCertificate;
}

const keysCodeMap: Partial<Record<string, ServerErrorCode>> = {
  MALFORMED_CSR: 'CSR_MALFORMED',
  WRONG_KEY_TYPE: 'CSR_MALFORMED',
  CSR_SIGNATURE_INVALID: 'CSR_SIGNATURE_INVALID',
  CSR_SUBJECT_MISMATCH: 'CSR_SUBJECT_INVALID',
  INVALID_ECU_SERIAL: 'CSR_SUBJECT_INVALID',
  INVALID_VIN_COMMITMENT: 'CSR_SUBJECT_INVALID',
  KEY_MISMATCH: 'REENROLLMENT_KEY_MISMATCH',
  MALFORMED_CERTIFICATE: 'CERTIFICATE_MALFORMED',
  CERTIFICATE_UNTRUSTED: 'VEHICLE_UNKNOWN',
  CERTIFICATE_NOT_VEHICLE: 'VEHICLE_UNKNOWN',
  CERTIFICATE_NOT_YET_VALID: 'VEHICLE_UNKNOWN',
  CERTIFICATE_REVOKED: 'VEHICLE_REVOKED',
  CA_CERTIFICATE_INVALID: 'VEHICLE_CA_NOT_CONFIGURED',
};

/** Maps a KeysError from CSR or certificate checks to the server's code; rethrows anything else. */
function toServerError(error: unknown): never {
  if (error instanceof ServerError) throw error;
  if (error instanceof KeysError) {
    const code = keysCodeMap[error.code];
    if (code) throw new ServerError(code, `${error.message} (${error.code})`, { cause: error });
  }
  throw error;
}

/** The canonical serial form of @tufchain/keys (lowercase hex, even length, no extra zeros). */
export function normalizeSerialNumber(serial: string): string {
  return normalizeCertificateSerial(serial);
}

function publicKeySha256(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function recordedCertificate(record: VehicleCertificateRecord): RecordedVehicleCertificate {
  return {
    certificatePem: record.certificatePem,
    vinCommitment: record.vinCommitment,
    ecuSerial: record.ecuSerial,
    notBefore: new Date(record.notBefore),
    notAfter: new Date(record.notAfter),
  };
}

function view(record: VehicleCertificateRecord, caPem: string): IssuedVehicleCertificate {
  return {
    certificate: record.certificatePem,
    caCertificate: caPem,
    serialNumber: record.serialNumber,
    vinCommitment: record.vinCommitment,
    ecuSerial: record.ecuSerial,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
  };
}

/** A certificate carried by a Sigstore bundle (JSON form), as PEM; undefined when there is none. */
export function bundleCertificatePem(bundle: unknown): string | undefined {
  const material = (bundle as { verificationMaterial?: Record<string, unknown> } | null)
    ?.verificationMaterial;
  if (!material || typeof material !== 'object') return undefined;
  const single = (material.certificate as { rawBytes?: unknown } | undefined)?.rawBytes;
  const chain = (material.x509CertificateChain as { certificates?: { rawBytes?: unknown }[] })
    ?.certificates?.[0]?.rawBytes;
  const raw = typeof single === 'string' ? single : typeof chain === 'string' ? chain : undefined;
  if (raw === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) return undefined;
  const lines = raw.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Vehicle enrollment (factory token + CSR), re-enrollment (the vehicle's own key, proven by the
 * CSR signature, with its current or expired certificate), revocation, the signed CRL, and the
 * identity check of install reports.
 */
export class VehicleService {
  readonly #store: RepositoryStore;
  readonly #ca: VehicleCa | undefined;
  readonly #caPem: string | undefined;
  readonly #config: VehicleEnrollmentConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #crlLock = new Mutex();

  constructor(opts: {
    store: RepositoryStore;
    ca: VehicleCa | undefined;
    caCertificatePem: string | undefined;
    config: VehicleEnrollmentConfig;
    clock: Clock;
    logger: Logger;
  }) {
    this.#store = opts.store;
    this.#ca = opts.ca;
    this.#caPem = opts.ca?.certificatePem ?? opts.caCertificatePem;
    this.#config = opts.config;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
  }

  get config(): VehicleEnrollmentConfig {
    return this.#config;
  }

  #requireCa(): VehicleCa {
    if (!this.#ca) {
      throw new ServerError(
        'VEHICLE_CA_NOT_CONFIGURED',
        'this server holds no vehicle CA key; enrollment, revocation and the CRL are off',
      );
    }
    return this.#ca;
  }

  /** Parses the CSR, checks its signature and that it names the vehicle only by commitment. */
  async #checkCsr(
    csrPem: string,
  ): Promise<{ publicKey: KeyObject; vinCommitment: string; ecuSerial: string }> {
    const csr = await verifyVehicleCsr(csrPem).catch(toServerError);
    if (csrNamesVin(csrPem)) {
      throw new ServerError(
        'VIN_IN_CLEAR',
        'the CSR names a VIN; a vehicle is named only by its salted VIN commitment',
      );
    }
    if (csr.vinCommitment === undefined || csr.ecuSerial === undefined) {
      throw new ServerError(
        'CSR_SUBJECT_INVALID',
        'the CSR subject must be CN=<VIN commitment, 64 hex> and serialNumber=<ECU serial>',
      );
    }
    return { publicKey: csr.publicKey, vinCommitment: csr.vinCommitment, ecuSerial: csr.ecuSerial };
  }

  async #issue(
    ca: VehicleCa,
    csrPem: string,
    options: { previousCertificatePem?: string; enrolledBy: string; previous?: string },
  ): Promise<VehicleCertificateRecord> {
    const now = this.#clock();
    const pem = await issueVehicleCertificateFromCsr(ca, csrPem, {
      validDays: this.#config.certificateValidDays,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      at: now,
      ...(options.previousCertificatePem !== undefined
        ? { previousCertificatePem: options.previousCertificatePem }
        : {}),
    }).catch(toServerError);
    const issued = verifyVehicleCertificate(pem, ca.certificatePem, { at: now });
    const record: VehicleCertificateRecord = {
      serialNumber: issued.serialNumber,
      vinCommitment: issued.vinCommitment,
      ecuSerial: issued.ecuSerial,
      publicKeySha256: publicKeySha256(issued.publicKey),
      certificatePem: pem,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      issuedAt: now.toISOString(),
      enrolledBy: options.enrolledBy,
      previousSerialNumber: options.previous ?? null,
      revokedAt: null,
      revocationReason: null,
    };
    await this.#store.insertVehicleCertificate(record);
    this.#logger.info(
      {
        serialNumber: record.serialNumber,
        ecuSerial: record.ecuSerial,
        notAfter: record.notAfter,
        previous: record.previousSerialNumber,
      },
      'vehicle certificate issued',
    );
    return record;
  }

  /** Factory enrollment: the caller authenticated with an `enroll` token. */
  async enroll(csrPem: string, tokenId: string): Promise<IssuedVehicleCertificate> {
    const ca = this.#requireCa();
    const csr = await this.#checkCsr(csrPem);
    const keyRecords = await this.#store.vehicleCertificatesByKey(publicKeySha256(csr.publicKey));
    if (keyRecords.some((r) => r.revokedAt !== null)) {
      throw new ServerError('VEHICLE_REVOKED', 'this vehicle key was revoked; generate a new key');
    }
    if (
      keyRecords.some((r) => r.vinCommitment !== csr.vinCommitment || r.ecuSerial !== csr.ecuSerial)
    ) {
      throw new ServerError(
        'VEHICLE_KEY_REUSED',
        'this key is enrolled for another vehicle or ECU',
      );
    }
    const record = await this.#issue(ca, csrPem, { enrolledBy: `token:${tokenId}` });
    return view(record, ca.certificatePem);
  }

  /**
   * Renewal by the vehicle itself: `certificatePem` is its current certificate (it may have expired,
   * up to `reenrollGraceDays` ago), the CSR holds the same key and its signature proves possession.
   * Asking again while a fresh successor exists answers that successor (`created: false`).
   */
  async reenroll(
    csrPem: string,
    certificatePem: string,
  ): Promise<{ issued: IssuedVehicleCertificate; created: boolean }> {
    const ca = this.#requireCa();
    const now = this.#clock();
    let previous: VerifiedVehicleCertificate;
    try {
      previous = verifyVehicleCertificate(certificatePem, ca.certificatePem, {
        at: now,
        allowExpired: true,
      });
    } catch (error) {
      toServerError(error);
    }
    const record = await this.#store.vehicleCertificate(previous.serialNumber);
    if (!record && this.#config.requireEnrollment) {
      throw new ServerError('VEHICLE_UNKNOWN', 'this certificate was never enrolled here');
    }
    const keyRecords = await this.#store.vehicleCertificatesByKey(
      publicKeySha256(previous.publicKey),
    );
    if (keyRecords.some((r) => r.revokedAt !== null)) {
      throw new ServerError('VEHICLE_REVOKED', `certificate ${previous.serialNumber} is revoked`);
    }
    this.#assertWithinGrace(previous.notAfter, now);
    // Proof of possession first: even the answer to a repeated request goes only to the key holder.
    const csr = await this.#checkCsr(csrPem);
    if (!csr.publicKey.equals(previous.publicKey)) {
      throw new ServerError(
        'REENROLLMENT_KEY_MISMATCH',
        'a re-enrollment CSR must hold the key of the presented certificate',
      );
    }
    for (const successor of await this.#store.vehicleCertificateSuccessors(previous.serialNumber)) {
      if (successor.revokedAt === null && !this.#due(new Date(successor.notAfter), now)) {
        return { issued: view(successor, ca.certificatePem), created: false };
      }
    }
    if (!this.#due(previous.notAfter, now)) {
      throw new ServerError(
        'REENROLLMENT_NOT_DUE',
        `the certificate is valid until ${previous.notAfter.toISOString()}; renew from ${this.#config.renewBeforeDays} days before`,
      );
    }
    const issued = await this.#issue(ca, csrPem, {
      previousCertificatePem: certificatePem,
      enrolledBy: 'reenroll',
      ...(record ? { previous: record.serialNumber } : {}),
    });
    return { issued: view(issued, ca.certificatePem), created: true };
  }

  #due(notAfter: Date, now: Date): boolean {
    return notAfter.getTime() - now.getTime() <= this.#config.renewBeforeDays * DAY_MS;
  }

  #assertWithinGrace(notAfter: Date, now: Date): void {
    if (now.getTime() - notAfter.getTime() > this.#config.reenrollGraceDays * DAY_MS) {
      throw new ServerError(
        'VEHICLE_CERTIFICATE_EXPIRED',
        `the certificate expired at ${notAfter.toISOString()}, more than ${this.#config.reenrollGraceDays} days ago; re-enroll with a factory token`,
      );
    }
  }

  /** Revokes a certificate and every other certificate of the same vehicle key, then re-signs the CRL. */
  async revoke(
    serial: string,
    reason: RevocationReason,
    certificatePem?: string,
  ): Promise<VehicleRevocation> {
    const ca = this.#requireCa();
    const serialNumber = normalizeSerialNumber(serial);
    const record =
      (await this.#store.vehicleCertificate(serialNumber)) ??
      (certificatePem === undefined
        ? undefined
        : await this.#importCertificate(ca, serialNumber, certificatePem));
    if (!record) throw new ServerError('VEHICLE_NOT_FOUND', `no vehicle certificate ${serial}`);
    if (record.revokedAt !== null) {
      throw new ServerError(
        'VEHICLE_ALREADY_REVOKED',
        `certificate ${serialNumber} was revoked at ${record.revokedAt}`,
      );
    }
    const revokedAt = this.#clock().toISOString();
    const sameKey = await this.#store.vehicleCertificatesByKey(record.publicKeySha256);
    const revokedSerialNumbers: string[] = [];
    for (const r of [record, ...sameKey.filter((k) => k.serialNumber !== serialNumber)]) {
      const outcome = await this.#store.revokeVehicleCertificate(r.serialNumber, revokedAt, reason);
      if (outcome === 'REVOKED') revokedSerialNumbers.push(r.serialNumber);
    }
    const crl = await this.#crlLock.run(() => this.#signCrl(ca));
    this.#logger.warn(
      { serialNumber, revokedSerialNumbers, reason, crlNumber: crl.crlNumber },
      'vehicle certificate revoked',
    );
    return { serialNumber, revokedSerialNumbers, revokedAt, reason, crlNumber: crl.crlNumber };
  }

  /**
   * Records a certificate this CA issued outside the enrollment API (factory PKCS#12) so that it can
   * be revoked. It must chain to the CA (expired is fine) and carry the serial of the request.
   */
  async #importCertificate(
    ca: VehicleCa,
    serialNumber: string,
    certificatePem: string,
  ): Promise<VehicleCertificateRecord> {
    let certificate: VerifiedVehicleCertificate;
    try {
      certificate = verifyVehicleCertificate(certificatePem, ca.certificatePem, {
        at: this.#clock(),
        allowExpired: true,
      });
    } catch (error) {
      toServerError(error);
    }
    if (certificate.serialNumber !== serialNumber) {
      throw new ServerError(
        'INVALID_REQUEST',
        `the certificate has serial ${certificate.serialNumber}, not ${serialNumber}`,
      );
    }
    const record: VehicleCertificateRecord = {
      serialNumber,
      vinCommitment: certificate.vinCommitment,
      ecuSerial: certificate.ecuSerial,
      publicKeySha256: publicKeySha256(certificate.publicKey),
      certificatePem,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      issuedAt: this.#clock().toISOString(),
      enrolledBy: 'import',
      previousSerialNumber: null,
      revokedAt: null,
      revocationReason: null,
    };
    await this.#store.insertVehicleCertificate(record);
    return record;
  }

  /** The newest CRL, re-signed under a new CRL number once it is older than crlRefreshSeconds. */
  currentCrl(): Promise<VehicleCrlRecord> {
    const ca = this.#requireCa();
    return this.#crlLock.run(async () => {
      const latest = await this.#store.latestVehicleCrl();
      const now = this.#clock().getTime();
      const age = latest ? now - Date.parse(latest.thisUpdate) : Infinity;
      if (latest && age >= -BACKDATE_MS && age < this.#config.crlRefreshSeconds * 1000) {
        return latest;
      }
      return this.#signCrl(ca);
    });
  }

  async #signCrl(ca: VehicleCa): Promise<VehicleCrlRecord> {
    for (;;) {
      const latest = await this.#store.latestVehicleCrl();
      const revoked = await this.#store.revokedVehicleCertificates();
      const thisUpdate = this.#clock();
      const nextUpdate = new Date(thisUpdate.getTime() + this.#config.crlValidityDays * DAY_MS);
      const crlNumber = (latest?.crlNumber ?? 0) + 1;
      const pem = await createRevocationList(ca, {
        crlNumber,
        thisUpdate,
        nextUpdate,
        revoked: revoked.map((r) => ({
          serialNumber: r.serialNumber,
          revokedAt: new Date(r.revokedAt ?? thisUpdate),
          reason: r.revocationReason ?? 'unspecified',
        })),
      });
      const record: VehicleCrlRecord = {
        crlNumber,
        pem,
        thisUpdate: thisUpdate.toISOString(),
        nextUpdate: nextUpdate.toISOString(),
      };
      // Another replica may have taken this number; sign again above it.
      if (await this.#store.insertVehicleCrl(record)) return record;
    }
  }

  /**
   * The identity check of an install report, before its signature is verified: the certificate
   * must chain to the vehicle CA (else VEHICLE_UNKNOWN), must not be revoked (VEHICLE_REVOKED), must
   * have been enrolled here when this server issues certificates (VEHICLE_UNKNOWN), and may have
   * expired at most `reenrollGraceDays` ago (VEHICLE_CERTIFICATE_EXPIRED). Returns undefined when
   * the bundle carries no parseable certificate or no CA is configured: the verifier decides then.
   */
  async admitInstallReport(bundle: unknown): Promise<ReportAdmission | undefined> {
    if (this.#caPem === undefined) return undefined;
    const certificatePem = bundleCertificatePem(bundle);
    if (certificatePem === undefined) return undefined;
    const now = this.#clock();
    // The record is found by the serial the bytes name; it stands for the CA's signature only
    // when it holds exactly this certificate (verifyRecordedVehicleCertificate).
    const serial = vehicleCertificateSerial(certificatePem);
    let record = serial === undefined ? undefined : await this.#store.vehicleCertificate(serial);
    const recorded = record && recordedCertificate(record);
    let certificate: VerifiedVehicleCertificate;
    let byRecord: VerifiedVehicleCertificate | undefined;
    try {
      const options = { at: now, allowExpired: true };
      byRecord =
        recorded &&
        verifyRecordedVehicleCertificate(certificatePem, this.#caPem, recorded, options);
      certificate = byRecord ?? verifyVehicleCertificate(certificatePem, this.#caPem, options);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'CERTIFICATE_UNTRUSTED' || code === 'CERTIFICATE_NOT_VEHICLE') {
        throw new ServerError(
          'VEHICLE_UNKNOWN',
          'the report is signed by a certificate this vehicle CA did not issue',
          { cause: error },
        );
      }
      return undefined;
    }
    if (certificate.serialNumber !== serial)
      record = await this.#store.vehicleCertificate(certificate.serialNumber);
    if (record?.revokedAt != null) {
      throw new ServerError(
        'VEHICLE_REVOKED',
        `certificate ${certificate.serialNumber} was revoked at ${record.revokedAt}`,
      );
    }
    if (!record && this.#ca && this.#config.requireEnrollment) {
      throw new ServerError(
        'VEHICLE_UNKNOWN',
        `certificate ${certificate.serialNumber} was never enrolled here`,
      );
    }
    if (certificate.expired) this.#assertWithinGrace(certificate.notAfter, now);
    return {
      serialNumber: certificate.serialNumber,
      certificateExpired: certificate.expired,
      ...(byRecord && recorded ? { recorded } : {}),
    };
  }
}
