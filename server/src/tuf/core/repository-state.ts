import type { Metadata, Root, Snapshot, TargetFile, Targets } from '@tufjs/models';
import { ServerError } from '../../error.js';
import type { MetadataRecord, RepositoryStore } from '../../storage/store.js';
import {
  BINS_ROLE,
  roleVersionsOf,
  supplierDelegations,
  supplierFor,
  usesBins,
  type SupplierDelegation,
} from '../layout.js';
import { parseMetadata, targetAt } from '../metadata.js';

/** Where a target lives: the role whose metadata lists it, and its entry there. */
export interface LocatedTarget {
  role: string;
  file: TargetFile;
  /** The supplier delegation it came through, if any. */
  supplier?: SupplierDelegation | undefined;
}

/**
 * What the repository serves now, read from the store: current metadata by role, parsed once per
 * version (cached by the sha256 of its bytes, so whoever commits, the next read sees it), and
 * targets resolved the way a TUF client walks the delegations. What it returns is read-only.
 */
export class RepositoryState {
  readonly #store: RepositoryStore;
  /** Parsed targets-role metadata by sha256 of its bytes; parsing is the expensive part. */
  readonly #parsed = new Map<string, Metadata<Targets>>();
  #snapshot: { sha256: string; versions: Map<string, number> } | undefined;

  constructor(store: RepositoryStore) {
    this.#store = store;
  }

  /** The current record of `role`; REPOSITORY_NOT_INITIALIZED when there is none. */
  async current(role: string): Promise<MetadataRecord> {
    const rec = await this.#store.currentMetadata(role);
    if (!rec) throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no current ${role} metadata`);
    return rec;
  }

  async trustedRoot(): Promise<Metadata<Root>> {
    return parseMetadata('root', (await this.current('root')).bytes);
  }

  async currentSnapshot(): Promise<Metadata<Snapshot>> {
    return parseMetadata('snapshot', (await this.current('snapshot')).bytes);
  }

  #parse(rec: { sha256: string; bytes: Uint8Array }): Metadata<Targets> {
    const hit = this.#parsed.get(rec.sha256);
    if (hit) return hit;
    const md = parseMetadata('targets', rec.bytes);
    // Bounded: the current bins plus a few superseded versions.
    if (this.#parsed.size > 4096) this.#parsed.clear();
    this.#parsed.set(rec.sha256, md);
    return md;
  }

  /** The current metadata of a targets role. */
  async roleMetadata(role: string): Promise<Metadata<Targets> | undefined> {
    const digest = await this.#store.currentMetadataDigest(role);
    if (!digest) return undefined;
    const hit = this.#parsed.get(digest.sha256);
    if (hit) return hit;
    const rec = await this.#store.currentMetadata(role);
    return rec ? this.#parse(rec) : undefined;
  }

  /**
   * The current metadata of every targets role the current snapshot names, by role (snapshot
   * order): one read of the snapshot's digest, one of every role's digest and one per role not
   * parsed yet, where asking roleMetadata per role took two round trips for each of 129 roles
   * (a scan under load took seconds on PostgreSQL: bench:fleet's firmware hints after a release).
   */
  async targetsRoles(): Promise<Map<string, Metadata<Targets>>> {
    const roles = await this.roleVersions();
    const digests = await this.#store.currentMetadataDigests();
    const out = new Map<string, Metadata<Targets>>();
    for (const role of roles.keys()) {
      const digest = digests.get(role);
      if (!digest) continue;
      const md = this.#parsed.get(digest.sha256) ?? (await this.roleMetadata(role));
      if (md) out.set(role, md);
    }
    return out;
  }

  /** The served top-level targets. */
  async currentTargets(): Promise<Metadata<Targets>> {
    const md = await this.roleMetadata('targets');
    if (!md) throw new ServerError('REPOSITORY_NOT_INITIALIZED', 'no current targets metadata');
    return md;
  }

  /** Role -> version of every targets-role file the current snapshot names (a copy). */
  async roleVersions(): Promise<Map<string, number>> {
    const digest = await this.#store.currentMetadataDigest('snapshot');
    if (!digest) throw new ServerError('REPOSITORY_NOT_INITIALIZED', 'no current snapshot');
    if (this.#snapshot?.sha256 !== digest.sha256) {
      const rec = await this.current('snapshot');
      this.#snapshot = {
        sha256: rec.sha256,
        versions: roleVersionsOf(parseMetadata('snapshot', rec.bytes).signed),
      };
    }
    return new Map(this.#snapshot.versions);
  }

  /** The version a new `role` file gets: above the served one and above every one ever staged. */
  async nextVersion(role: string, current: number): Promise<number> {
    return Math.max(await this.#store.maxVersion(role), current) + 1;
  }

  /** The hashed bin a path belongs to (TAP 15), or undefined for a flat repository. */
  async binFor(path: string): Promise<string | undefined> {
    const bins = await this.roleMetadata(BINS_ROLE);
    return bins?.signed.delegations?.succinctRoles?.getRoleForTarget(path);
  }

  /**
   * Resolves a target path the way a TUF client does: top-level first, then the one
   * terminating delegation whose paths match (a supplier role, else the bins).
   */
  async findTarget(path: string): Promise<LocatedTarget | undefined> {
    const top = (await this.currentTargets()).signed;
    const direct = targetAt(top.targets, path);
    if (direct) return { role: 'targets', file: direct };
    const supplier = supplierFor(path, supplierDelegations(top));
    if (supplier) {
      const role = await this.roleMetadata(supplier.role);
      const file = role && targetAt(role.signed.targets, path);
      return file ? { role: supplier.role, file, supplier } : undefined;
    }
    if (!usesBins(top) || !top.delegations?.roles?.[BINS_ROLE]?.isDelegatedPath(path)) {
      return undefined;
    }
    const bin = await this.binFor(path);
    const binMd = bin ? await this.roleMetadata(bin) : undefined;
    const file = binMd && targetAt(binMd.signed.targets, path);
    return bin && file ? { role: bin, file } : undefined;
  }
}
