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
