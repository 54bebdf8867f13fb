import type { TargetFile } from '@tufjs/models';
import { ServerError } from '../error.js';
import { assertLoggable } from '../log/loggable.js';
import type { NewMetadataRecord, ReleaseRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import type { Published } from './core/publish-pipeline.js';
import { errorText } from './error-text.js';
import { expiryAfter } from './expiry.js';
import { deltaTargetsIndex, deltaTargetsOf } from './deltas.js';
import { attestationTargetName } from './firmware-target.js';
import { buildTargets, delegationsJsonOf } from './layout.js';
import { recordOf } from './metadata.js';
import type { ChainReceipt } from './release-log.js';
import { signMetadata } from './signer.js';

/**
 * Re-signs the roles that list the release without it (top-level targets or its bins) and
 * recalls its digests on chain. A supplier's role is the supplier's to re-sign: its releases
 * are recalled on chain, which every vehicle checks, and stay listed until the supplier uploads
 * metadata without them.
 */
export function revokeRelease(
  core: RepositoryCore,
  id: number,
  reason: string,
): Promise<ReleaseRecord> {
  return core.lock.run(async () => {
    const { store, state, keys } = core;
    const release = await store.release(id);
    if (!release) throw new ServerError('RELEASE_NOT_FOUND', `no release ${id}`);
    if (release.status === 'revoked')
      throw new ServerError('RELEASE_ALREADY_REVOKED', `release ${id} is already revoked`);
    if (release.status !== 'confirmed')
      throw new ServerError('RELEASE_NOT_FOUND', `release ${id} was never published`);
    // The reason goes into the log's recall entries as it is.
    assertLoggable({ type: 'recall', subject: '', reason });
    const rootMd = await state.trustedRoot();
    const top = await state.currentTargets();
    const byRole = new Map<string, Set<string>>();
    const digests: string[] = [];
    const building = await deltaTargetsIndex(core);
    for (const name of release.targetNames) {
      // The image's deltas go with it: each of them rebuilds the revoked image.
      const image = await state.findTarget(name);
      const deltas = new Set(deltaTargetsOf(image?.file.custom));
      // and those the online bins list by digest (for an image a supplier or offline key signed)
      const sha256 = image?.file.hashes.sha256;
      if (sha256) for (const d of building.get(sha256) ?? []) deltas.add(d.path);
      for (const path of [name, attestationTargetName(name), ...deltas]) {
        const located = await state.findTarget(path);
        if (!located) continue;
        if (path === name && located.file.hashes.sha256)
          digests.push(`0x${located.file.hashes.sha256}`);
        if (located.supplier) continue;
        byRole.set(located.role, new Set([...(byRole.get(located.role) ?? []), path]));
      }
    }
    const roles: NewMetadataRecord[] = [];
    const expires = expiryAfter(core.clock(), core.config.expiries.targets);
    for (const [role, remove] of byRole) {
      const current = role === 'targets' ? top : await state.roleMetadata(role);
      if (!current) continue;
      const targets: Record<string, TargetFile> = {};
      for (const [path, file] of Object.entries(current.signed.targets))
        if (!remove.has(path)) targets[path] = file;
      const next = buildTargets({
        version: await state.nextVersion(role, current.signed.version),
        expires,
        targets,
        delegations: delegationsJsonOf(current.signed),
      });
      await signMetadata(
        next,
        role === 'targets' ? keys.forRole('targets', rootMd.signed) : keys.forBins(top.signed),
      );
      roles.push(recordOf(role, next));
    }
    let published: Published | null = null;
    if (roles.length > 0) {
      published = await core.pipeline.publish({
        roles,
        root: rootMd.signed,
        firmware: [],
        releaseId: null,
        batch: `revoke:${id}`,
        alsoLog: digests.map((subject) => ({ kind: 'recall' as const, subject, reason })),
      });
    }
    let recall: ChainReceipt | null = null;
    if (core.releaseLog.recallFirmware && digests.length > 0) {
      try {
        recall = await core.releaseLog.recallFirmware(digests, reason);
      } catch (error) {
        if (!published) {
          throw new ServerError('CHAIN_LOG_FAILED', `recall on chain failed: ${errorText(error)}`, {
            cause: error,
          });
        }
        core.logger.error(
          { releaseId: id, err: errorText(error) },
          'recall on chain failed; metadata already re-signed without the release',
        );
      }
    }
    if (!published && digests.length > 0) {
      // Nothing re-signed (every listing was a supplier's): the recalls are owed on their own.
      const owed = `revoke:${id}`;
      await core.pipeline.outbox.owe(
        owed,
        null,
        digests.map((subject) => ({ kind: 'recall', subject, reason })),
      );
      await core.pipeline.outbox.settle(owed);
    }
    await store.recordRevokedDigests(
      digests.map((d) => ({
        sha256: d.replace(/^0x/, ''),
        releaseId: id,
        revokedAt: core.clock().toISOString(),
      })),
    );
    const snapshot = await state.current('snapshot');
    await store.updateRelease(id, {
      status: 'revoked',
      revocation: {
        targetsVersion: published?.metadataVersion ?? snapshot.version,
        metadataHash: published?.metadataHash ?? `0x${snapshot.sha256}`,
        chain: recall ?? published?.chain ?? null,
      },
    });
    const updated = await store.release(id);
    if (!updated) throw new ServerError('INTERNAL', 'release vanished');
    return updated;
  });
}
