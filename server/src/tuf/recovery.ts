import type { RepositoryCore } from './core/repository-core.js';
import { errorText } from './error-text.js';
import type { ChainLookup, ChainReceipt } from './release-log.js';

export type { ChainLookup } from './release-log.js';

export interface RecoveryReport {
  published: string[];
  abandoned: string[];
  pending: string[];
}

/**
 * Finishes publishes a crash interrupted. A staged batch whose snapshot the chain holds
 * (confirmed) is published exactly as staged, so what is served is what is logged; one the
 * chain does not hold is abandoned (its version numbers are never reused). If the chain cannot
 * answer yet, the batch stays staged for the next attempt. Runs under the publish lock.
 */
export function recoverInterruptedPublishes(
  core: RepositoryCore,
  chain: ChainLookup,
): Promise<RecoveryReport> {
  return core.lock.run(async () => {
    const { store, state, logger } = core;
    const report: RecoveryReport = { published: [], abandoned: [], pending: [] };
    if (!(await store.currentMetadata('root'))) return report;
    for (const { batch, records } of await store.stagedBatches()) {
      const keys = records.map((r) => ({ role: r.role, version: r.version }));
      const snapshot = records.find((r) => r.role === 'snapshot');
      const newRoot = records.find((r) => r.role === 'root');
      const releaseId = /^release:(\d+)$/.exec(batch)?.[1];
      const currentSnapshot = await state.current('snapshot');
      const currentRoot = await state.current('root');
      const abandon = async (why: string): Promise<void> => {
        await store.abandonMetadata(keys);
        if (releaseId)
          await store.updateRelease(Number(releaseId), { status: 'failed', error: why });
        report.abandoned.push(batch);
      };
      if (
        !snapshot ||
        snapshot.version <= currentSnapshot.version ||
        (newRoot && newRoot.version !== currentRoot.version + 1)
      ) {
        await abandon('interrupted before it was logged; superseded');
        continue;
      }
      const metadataHash = `0x${snapshot.sha256}`;
      let logged: ChainReceipt;
      try {
        logged = await chain.findRelease(metadataHash);
      } catch (error) {
        if ((error as { code?: unknown }).code === 'METADATA_NOT_LOGGED') {
          await abandon('interrupted before the chain logged it');
        } else {
          logger.warn(
            { batch, err: errorText(error) },
            'cannot tell yet whether an interrupted publish was logged',
          );
          report.pending.push(batch);
        }
        continue;
      }
      const chainRef = {
        txHash: logged.txHash,
        blockNumber: logged.blockNumber,
        blockHash: logged.blockHash,
      };
      await core.pipeline.commitRecovered(
        keys,
        releaseId
          ? {
              id: Number(releaseId),
              patch: { status: 'confirmed', chain: chainRef, metadataHash },
            }
          : undefined,
        logged,
      );
      logger.warn(
        { batch, snapshotVersion: snapshot.version },
        'published an interrupted publish the chain had logged',
      );
      report.published.push(batch);
    }
    return report;
  });
}

/**
 * Vehicles accept only a snapshot the chain holds. A repository whose current snapshot is not
 * logged (one upgraded from the flat layout, which logged targets; or a chain that lost the entry)
 * gets a fresh snapshot logged before it serves. Runs under the publish lock; true if it re-signed.
 */
export function ensureSnapshotLogged(core: RepositoryCore, chain: ChainLookup): Promise<boolean> {
  return core.lock.run(async () => {
    const current = await core.store.currentMetadataDigest('snapshot');
    if (!current) return false;
    try {
      await chain.findRelease(`0x${current.sha256}`);
      return false;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'METADATA_NOT_LOGGED') throw error;
    }
    await core.pipeline.publish({
      roles: [],
      root: (await core.state.trustedRoot()).signed,
      firmware: [],
      releaseId: null,
      batch: 'relog',
    });
    core.logger.warn(
      { snapshotVersion: current.version },
      'the served snapshot was not on chain; a new snapshot was logged and published',
    );
    return true;
  });
}
