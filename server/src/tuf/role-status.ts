import { ServerError } from '../error.js';
import type { RepositoryCore } from './core/repository-core.js';
import { secondsUntil } from './expiry.js';
import { BINS_ROLE, HARDWARE_IDS_FIELD, usesBins } from './layout.js';

export interface RoleStatus {
  /** A top-level role, a delegated role, or `bins-*` summarizing the hashed bins. */
  role: string;
  version: number;
  expires: string;
  secondsToExpiry: number;
  threshold: number;
  keyIds: string[];
  onlineKeyIds: string[];
  signing: 'online' | 'offline';
  /** Supplier roles: the hardware IDs they may sign for. */
  hardwareIds?: string[];
  /** `bins-*`: how many hashed bins; version and expiry are of the one expiring first. */
  count?: number;
}

/** Version, expiry, keys and signing mode of every role (`GET /api/v1/status`, the metrics). */
export async function roleStatus(core: RepositoryCore): Promise<RoleStatus[]> {
  const { store, state, keys } = core;
  const now = core.clock();
  const root = (await state.trustedRoot()).signed;
  const top = (await state.currentTargets()).signed;
  const out: RoleStatus[] = [];
  for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
    const rec = await store.currentMetadataDigest(role);
    if (!rec) throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no current ${role} metadata`);
    const def = root.roles[role];
    const online = role === 'root' ? [] : keys.keyIds(role);
    const keyIds = def?.keyIDs ?? [];
    out.push({
      role,
      version: rec.version,
      expires: rec.expires,
      secondsToExpiry: Math.floor(secondsUntil(rec.expires, now)),
      threshold: def?.threshold ?? 0,
      keyIds,
      onlineKeyIds: online.filter((k) => keyIds.includes(k)),
      signing:
        role === 'root' || (role === 'targets' && online.length === 0) ? 'offline' : 'online',
    });
  }
  const delegated = top.delegations?.roles ?? {};
  const binsOnline = keys.binsSigners().map((s) => s.keyId);
  for (const role of Object.values(delegated)) {
    const rec = await store.currentMetadataDigest(role.name);
    const entry: RoleStatus = {
      role: role.name,
      version: rec?.version ?? 0,
      expires: rec?.expires ?? '',
      secondsToExpiry: rec ? Math.floor(secondsUntil(rec.expires, now)) : 0,
      threshold: role.threshold,
      keyIds: role.keyIDs,
      onlineKeyIds:
        role.name === BINS_ROLE ? binsOnline.filter((k) => role.keyIDs.includes(k)) : [],
      signing: role.name === BINS_ROLE ? 'online' : 'offline',
    };
    const hardwareIds = role.unrecognizedFields?.[HARDWARE_IDS_FIELD];
    if (Array.isArray(hardwareIds)) entry.hardwareIds = hardwareIds as string[];
    out.push(entry);
  }
  if (usesBins(top)) {
    // Hashed bins are summarized: their count and the one that expires first.
    const bins = [...(await state.roleVersions()).keys()].filter((r) =>
      r.startsWith(`${BINS_ROLE}-`),
    );
    let first: { role: string; expires: string; version: number } | undefined;
    for (const role of bins) {
      const d = await store.currentMetadataDigest(role);
      if (d && (!first || d.expires < first.expires)) first = { role, ...d };
    }
    if (first) {
      const keyIds = top.delegations?.roles?.[BINS_ROLE]?.keyIDs ?? [];
      out.push({
        role: `${BINS_ROLE}-*`,
        version: first.version,
        expires: first.expires,
        secondsToExpiry: Math.floor(secondsUntil(first.expires, now)),
        threshold: 1,
        keyIds,
        onlineKeyIds: binsOnline.filter((k) => keyIds.includes(k)),
        signing: 'online',
        count: bins.length,
      });
    }
  }
  return out;
}
