import type { Targets } from '@tufjs/models';
import type { NewMetadataRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import { prepareOnlineDeltas, type DeltaImage } from './deltas.js';
import { expiryAfter } from './expiry.js';
import { BINS_ROLE, usesBins } from './layout.js';
import { targetAt } from './metadata.js';
import { binRecords } from './releases.js';

/**
 * The hashed bins, signed with the server's online bins key, that list the deltas to `images`:
 * images a role the server does not sign adds (a supplier's role, top-level targets signed
 * offline). They go into the same snapshot and chain log entry as the metadata that adds the
 * images. `top` is the top-level targets that snapshot serves; `pending` the roles it publishes.
 * None when that top-level targets does not delegate to bins the server holds the key of, or
 * when it creates the bins in this very publish.
 */
export async function onlineDeltaRoles(
  core: RepositoryCore,
  top: Targets,
  images: readonly DeltaImage[],
  pending: readonly NewMetadataRecord[],
): Promise<NewMetadataRecord[]> {
  if (images.length === 0 || core.config.deltaBases <= 0) return [];
  const bins = top.delegations?.roles?.[BINS_ROLE];
  if (!usesBins(top) || !bins || pending.some((r) => r.role === BINS_ROLE)) return [];
  try {
    core.keys.forBins(top);
  } catch {
    return []; // bins signed offline, or with keys this server does not hold
  }
  const files = await prepareOnlineDeltas(core, images, async (path) => {
    // The top-level targets being published is consulted first by a vehicle, then the bins.
    if (targetAt(top.targets, path) || !bins.isDelegatedPath(path)) return true;
    return (await core.state.findTarget(path)) !== undefined;
  });
  if (files.length === 0) return [];
  const expires = expiryAfter(core.clock(), core.config.expiries.targets);
  return binRecords(core, top, files, expires);
}
