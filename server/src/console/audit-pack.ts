import { canonicalize } from '@tufjs/canonical-json';
import {
  createVehicleAuditPacks,
  proofBundleSchema,
  type ProofBundle,
  type VehicleAuditPack,
} from '@tufchain/transparency';
import type { ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import type { LatestAudit } from '../monitor/monitor.js';

const plainHex = (h: string): string => h.replace(/^0x/, '').toLowerCase();

/** The monitor's newest audit that read install reports; AUDIT_NOT_RUN says why there is none. */
export function auditWithInstalls(ctx: ServerContext): LatestAudit & { vehicleCaPem: string } {
  if (!ctx.monitorAudit)
    throw new ServerError('AUDIT_NOT_RUN', 'no monitor runs in this server: no audit to pack');
  const latest = ctx.monitorAudit();
  if (!latest) throw new ServerError('AUDIT_NOT_RUN', 'the monitor has not finished an audit yet');
  const { vehicleCaPem } = latest;
  if (!vehicleCaPem)
    throw new ServerError(
      'AUDIT_NOT_RUN',
      "the monitor's audit does not read install reports (it has no vehicle CA)",
    );
  return { ...latest, vehicleCaPem };
}

/** The transparency log's proof bundle of an entry; none while it is not anchored yet. */
async function proofBundleAt(ctx: ServerContext, index: number): Promise<ProofBundle | undefined> {
  if (!ctx.log) return undefined;
  let raw: unknown;
  try {
    raw = await ctx.log.proofBundle(index);
  } catch (error) {
    ctx.logger.debug({ index, err: (error as Error).message }, 'no proof bundle for the pack');
    return undefined;
  }
  return proofBundleSchema.parse(raw);
}

/** Log index of each stored report of one vehicle, by its bundle's canonical JSON. */
async function logIndexes(ctx: ServerContext, commitment: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let afterId: number | undefined;
  for (;;) {
    const rows = await ctx.store.attestations({ ...(afterId ? { afterId } : {}), limit: 1000 });
    for (const r of rows)
      if (r.logIndex !== null && plainHex(r.vinCommitment) === commitment)
        out.set(canonicalize(JSON.parse(r.bundleJson)), r.logIndex);
    const last = rows.at(-1);
    if (rows.length < 1000 || !last) return out;
    afterId = last.id;
  }
}

/**
 * One vehicle's audit pack from the monitor's newest audit, with the log's proof bundles when
 * the server has a transparency log. VEHICLE_NOT_FOUND when that audit saw nothing of it.
 */
export async function consoleAuditPack(ctx: ServerContext, key: string): Promise<VehicleAuditPack> {
  const audit = auditWithInstalls(ctx);
  const commitment = plainHex(key);
  const { result } = audit;
  const installs = result.installs.filter(
    (i) => plainHex(i.predicate.vehicle.commitment) === commitment,
  );
  const served = result.director?.served.filter((s) => plainHex(s.vehicle) === commitment) ?? [];
  if (installs.length === 0 && served.length === 0)
    throw new ServerError(
      'VEHICLE_NOT_FOUND',
      `the monitor's last audit (${audit.at}) saw no install report of vehicle ${key}`,
    );
  const indexes = ctx.log ? await logIndexes(ctx, commitment) : new Map<string, number>();
  const packs = await createVehicleAuditPacks(
    {
      ...result,
      installs,
      ...(result.director ? { director: { ...result.director, served } } : {}),
    },
    {
      vehicleCaPem: audit.vehicleCaPem,
      contractAddress: audit.contractAddress,
      chainId: audit.chainId,
      proofBundle: async (install) => {
        const index = install.logIndex ?? indexes.get(canonicalize(install.bundle));
        return index === undefined ? undefined : proofBundleAt(ctx, index);
      },
      logProofBundle: (index) => proofBundleAt(ctx, index),
      now: ctx.clock(),
    },
  );
  const pack = [...packs.values()][0];
  if (!pack) throw new ServerError('VEHICLE_NOT_FOUND', `no audit pack for vehicle ${key}`);
  return pack;
}
