import { ServerError } from '../error.js';
import type { RepositoryCore } from './core/repository-core.js';

export interface FirmwareSummary {
  name: string;
  role: string;
  releaseCounter: number;
  version: string;
  sha256: string;
  length: number;
}

/**
 * The newest firmware per hardware ID across every current targets role: a discovery hint for
 * vehicles (`GET /api/v1/hardware/{id}/latest`), which still resolve and verify the name through
 * TUF and the chain. Rebuilt when the snapshot changes, from the parsed roles the state caches.
 */
export class FirmwareIndex {
  readonly #core: RepositoryCore;
  #index: { sha256: string; byHardware: Map<string, FirmwareSummary> } | undefined;

  constructor(core: RepositoryCore) {
    this.#core = core;
  }

  async latest(hardwareId: string): Promise<FirmwareSummary | undefined> {
    const snapshot = await this.#core.store.currentMetadataDigest('snapshot');
    if (!snapshot) throw new ServerError('REPOSITORY_NOT_INITIALIZED', 'no current snapshot');
    if (this.#index?.sha256 !== snapshot.sha256) {
      this.#index = { sha256: snapshot.sha256, byHardware: await this.#build() };
    }
    return this.#index.byHardware.get(hardwareId);
  }

  async #build(): Promise<Map<string, FirmwareSummary>> {
    const { state } = this.#core;
    const byHardware = new Map<string, FirmwareSummary>();
    for (const [role, md] of await state.targetsRoles()) {
      for (const [name, file] of Object.entries(md.signed.targets)) {
        const c = file.custom;
        if (c.kind !== 'firmware' || !Array.isArray(c.hardwareIds)) continue;
        const counter = c.releaseCounter;
        if (typeof counter !== 'number' || typeof c.version !== 'string') continue;
        for (const h of c.hardwareIds) {
          if (typeof h !== 'string') continue;
          const best = byHardware.get(h);
          if (!best || counter > best.releaseCounter) {
            byHardware.set(h, {
              name,
              role,
              releaseCounter: counter,
              version: c.version,
              sha256: file.hashes.sha256 ?? '',
              length: file.length,
            });
          }
        }
      }
    }
    return byHardware;
  }
}
