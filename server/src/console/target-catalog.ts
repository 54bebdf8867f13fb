import type { RepositoryCore } from '../tuf/core/repository-core.js';

export interface CatalogTarget {
  name: string;
  /** The targets role that signs it: `targets`, a `bins-*` bin or a supplier's role. */
  role: string;
  sha256: string;
  length: number;
  hardwareIds: string[];
  version: string | undefined;
  releaseCounter: number | undefined;
  /** The target name of its Sigstore firmware attestation, when it has one. */
  attestation: string | undefined;
}

/** Every target the current metadata serves, by name (revoked targets are no longer in it). */
export async function targetCatalog(core: RepositoryCore): Promise<Map<string, CatalogTarget>> {
  const byName = new Map<string, CatalogTarget>();
  for (const [role, md] of await core.state.targetsRoles()) {
    for (const [name, file] of Object.entries(md.signed.targets)) {
      const c = file.custom;
      byName.set(name, {
        name,
        role,
        sha256: file.hashes.sha256 ?? '',
        length: file.length,
        hardwareIds: Array.isArray(c.hardwareIds)
          ? c.hardwareIds.filter((h): h is string => typeof h === 'string')
          : [],
        version: typeof c.version === 'string' ? c.version : undefined,
        releaseCounter: typeof c.releaseCounter === 'number' ? c.releaseCounter : undefined,
        attestation: typeof c.attestation === 'string' ? c.attestation : undefined,
      });
    }
  }
  return byName;
}
