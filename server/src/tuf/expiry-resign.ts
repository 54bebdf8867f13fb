import { ServerError } from '../error.js';
import type { NewMetadataRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import { errorText } from './error-text.js';
import { expiryAfter, secondsUntil } from './expiry.js';
import { BINS_ROLE, buildTargets, delegationsJsonOf, usesBins } from './layout.js';
import { recordOf } from './metadata.js';
import { signMetadata } from './signer.js';

const isBinsRole = (role: string): boolean =>
  role === BINS_ROLE || role.startsWith(`${BINS_ROLE}-`);

/**
 * Re-signs every online role whose remaining validity is inside its window: top-level targets
 * (when its key is online), `bins` and EVERY hashed bin (empty ones too), snapshot, timestamp.
 * Runs under the lock and re-reads state there, so concurrent callers never double-bump.
 * Returns the roles that got a new version.
 */
export function refreshExpiring(core: RepositoryCore): Promise<string[]> {
  return core.lock.run(() => resignExpiring(core));
}

async function resignExpiring(core: RepositoryCore): Promise<string[]> {
  const { store, state, keys, config } = core;
  const now = core.clock();
  const w = config.resignWindows;
  const dueIn = async (role: string, window: number): Promise<boolean> => {
    const d = await store.currentMetadataDigest(role);
    return d !== undefined && secondsUntil(d.expires, now) <= window;
  };
  const root = (await state.trustedRoot()).signed;
  const top = await state.currentTargets();
  const changed: NewMetadataRecord[] = [];
  const expires = expiryAfter(now, config.expiries.targets);
  if ((await dueIn('targets', w.targets)) && keys.hasOnlineTargets()) {
    const next = buildTargets({
      version: await state.nextVersion('targets', top.signed.version),
      expires,
      targets: top.signed.targets,
      delegations: delegationsJsonOf(top.signed),
    });
    await signMetadata(next, keys.forRole('targets', root));
    changed.push(recordOf('targets', next));
  }
  if (usesBins(top.signed)) {
    const binRoles = [...(await state.roleVersions()).keys()].filter(isBinsRole);
    const signers = keys.forBins(top.signed);
    for (const role of binRoles) {
      if (!(await dueIn(role, w.targets))) continue;
      const current = await state.roleMetadata(role);
      if (!current) continue;
      const next = buildTargets({
        version: await state.nextVersion(role, current.signed.version),
        expires,
        targets: current.signed.targets,
        delegations: delegationsJsonOf(current.signed),
      });
      await signMetadata(next, signers);
      changed.push(recordOf(role, next));
    }
  }
  const bumped: string[] = [];
  if (changed.length > 0 || (await dueIn('snapshot', w.snapshot))) {
    await core.pipeline.publish({
      roles: changed,
      root,
      firmware: [],
      releaseId: null,
      batch: 'resign',
    });
    bumped.push(...changed.map((r) => r.role), 'snapshot', 'timestamp');
  } else if (await dueIn('timestamp', w.timestamp)) {
    await core.pipeline.publishTimestamp(root);
    bumped.push('timestamp');
  }
  for (const role of bumped) {
    core.metrics?.onResign?.(role.startsWith(`${BINS_ROLE}-`) ? BINS_ROLE : role);
  }
  if (bumped.length > 0)
    core.logger.info(
      { roles: bumped.length > 8 ? `${bumped.length} roles` : bumped },
      'online roles re-signed before expiry',
    );
  return bumped;
}

/**
 * Keeps reads from ever being served expired online metadata (top-level targets, the bins,
 * snapshot, timestamp): remembers the earliest expiry until the next commit, and re-signs on
 * demand once it has passed.
 */
export class FreshnessGuard {
  readonly #core: RepositoryCore;
  #earliestExpiry: number | undefined;

  constructor(core: RepositoryCore) {
    this.#core = core;
    core.pipeline.onCommitted(() => {
      this.#earliestExpiry = undefined;
    });
  }

  /**
   * Re-signs on demand if needed; throws METADATA_EXPIRED if it cannot. Returns the earliest
   * expiry of the online roles (Unix ms): until then, the served metadata needs no look.
   */
  async ensureFresh(): Promise<number> {
    const { clock, logger } = this.#core;
    const now = clock().getTime();
    if (this.#earliestExpiry !== undefined && now < this.#earliestExpiry) {
      return this.#earliestExpiry;
    }
    let min = await this.#earliestOnlineExpiry();
    if (now >= min) {
      try {
        await refreshExpiring(this.#core);
      } catch (error) {
        logger.error({ err: errorText(error) }, 'on-demand re-signing failed');
      }
      min = await this.#earliestOnlineExpiry();
      if (clock().getTime() >= min) {
        throw new ServerError(
          'METADATA_EXPIRED',
          'current metadata has expired and could not be re-signed',
        );
      }
    }
    this.#earliestExpiry = min;
    return min;
  }

  async #earliestOnlineExpiry(): Promise<number> {
    const { store, state } = this.#core;
    let min = Number.POSITIVE_INFINITY;
    const roles = ['targets', 'snapshot', 'timestamp'];
    for (const role of (await state.roleVersions()).keys()) {
      if (isBinsRole(role)) roles.push(role);
    }
    const digests = await store.currentMetadataDigests();
    for (const role of roles) {
      const d = digests.get(role);
      if (d) min = Math.min(min, Date.parse(d.expires));
    }
    return min;
  }
}
