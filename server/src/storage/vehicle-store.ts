import type { RevocationReason } from '@tufchain/keys';

/** A vehicle certificate the server issued, keyed by its serial number (lowercase hex). */
export interface VehicleCertificateRecord {
  serialNumber: string;
  vinCommitment: string;
  ecuSerial: string;
  /** sha256 hex of the certificate's SPKI DER: one key belongs to one vehicle ECU. */
  publicKeySha256: string;
  certificatePem: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  /** `token:<id>` for a factory enrollment, `reenroll` for a renewal by the vehicle itself. */
  enrolledBy: string;
  /** The certificate this one renews (re-enrollment), if any. */
  previousSerialNumber: string | null;
  revokedAt: string | null;
  revocationReason: RevocationReason | null;
}

export interface VehicleCrlRecord {
  crlNumber: number;
  pem: string;
  thisUpdate: string;
  nextUpdate: string;
}

export type RevokeVehicleOutcome = 'REVOKED' | 'ALREADY_REVOKED' | 'NOT_FOUND';

/** Vehicle enrollment registry and CRL history (part of RepositoryStore). */
export interface VehicleRegistryStore {
  insertVehicleCertificate(record: VehicleCertificateRecord): Promise<void>;
  vehicleCertificate(serialNumber: string): Promise<VehicleCertificateRecord | undefined>;
  /** Certificates that renewed `serialNumber`, newest first. */
  vehicleCertificateSuccessors(serialNumber: string): Promise<VehicleCertificateRecord[]>;
  /** Any certificate issued for this public key (sha256 hex of the SPKI DER). */
  vehicleCertificatesByKey(publicKeySha256: string): Promise<VehicleCertificateRecord[]>;
  revokeVehicleCertificate(
    serialNumber: string,
    revokedAt: string,
    reason: RevocationReason,
  ): Promise<RevokeVehicleOutcome>;
  revokedVehicleCertificates(): Promise<VehicleCertificateRecord[]>;
  latestVehicleCrl(): Promise<VehicleCrlRecord | undefined>;
  /** Stores a CRL; false when that CRL number already exists (another writer got there first). */
  insertVehicleCrl(record: VehicleCrlRecord): Promise<boolean>;
}
