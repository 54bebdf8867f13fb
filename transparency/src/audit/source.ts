import type { DirectorServedVersion, DirectorVehicleRecord } from './director.js';
import type { AuditFindingCode } from './finding-code.js';

/**
 * Where the auditor reads the repository's history from (the server's public routes, or files).
 * Repository layout v2: every snapshot version is logged on chain, and each snapshot pins the
 * version of every targets-role file (top-level `targets`, `bins`, `bins-XX`, `supplier-*`).
 */
export interface AuditSource {
  /** Every snapshot version the repository has ever served (`GET /api/v1/audit/snapshot-versions`). */
  snapshotVersions(): Promise<number[]>;
  /**
   * The exact bytes of `{version}.{role}.json` for `snapshot` and any targets role (top-level or
   * delegated); throws when the repository does not serve it.
   */
  metadata(role: string, version: number): Promise<Uint8Array>;
  /**
   * The bytes of the timestamp served now (`timestamp.json`); when given, the auditor checks it
   * points at a served, logged snapshot.
   */
  timestamp?(): Promise<Uint8Array>;
  /** The exact bytes of `{version}.root.json`, or null when that version does not exist. */
  rootMetadata(version: number): Promise<Uint8Array | null>;
  /** Every install (and firmware) attestation bundle the repository has received. */
  attestations(): Promise<unknown[]>;
  /**
   * The bytes of a target as TUF serves it (consistent snapshot: sha256-prefixed name), used to
   * check each firmware's Sigstore attestation; without it those checks are skipped.
   */
  targetFile?(name: string, sha256: string): Promise<Uint8Array>;
  /** The vehicle CA's X.509 CRL (PEM), or null when the repository serves none. */
  revocationList?(): Promise<string | null>;
  /**
   * Every Director targets version served, per vehicle commitment, with its sha256 and log index
   * (public `GET /api/v1/audit/director-targets`); null when the server runs no Director.
   */
  directorTargets?(): Promise<DirectorServedVersion[] | null>;
  /**
   * What an OEM token opens about one vehicle (`/api/v1/vehicles/{c}/director/targets`, `…/ecus/history`,
   * `…/manifests`): its targets versions with their salts and signed bytes, its inventory history,
   * its manifests. Absent without a token.
   */
  directorVehicle?(commitment: string): Promise<DirectorVehicleRecord>;
  /**
   * Every member (vehicle commitment) of the fleet snapshot a campaign's wave was cut from, as the
   * OEM opens it (`GET /api/v1/audit/campaigns/{urn}/waves/{wave}/members`, any OEM token); null
   * when the server does not know that wave. With it the auditor recomputes wave membership from
   * the logged salt; absent without a token.
   */
  campaignWaveMembers?(campaign: string, wave: number): Promise<string[] | null>;
}

export interface AuditFinding {
  code: AuditFindingCode;
  severity: 'error' | 'warning';
  message: string;
  subject?: string;
}

export interface AuditReport {
  findings: AuditFinding[];
  stats: Record<string, number>;
}
