import type { ContractEvent } from '@tufchain/transparency';
import type { ReleaseRecord } from '../storage/store.js';

type ReleaseEvent = Extract<ContractEvent, { kind: 'release' }>;

/** Whether the server recorded a logged release through its own publish path. */
export interface ServerReleaseRecords {
  recorded(event: ReleaseEvent): Promise<boolean>;
}

/**
 * The server's release store as the OEM's release records, for the monitor the daemon hosts.
 *
 * The server writes a release's record, with the snapshot version and hash it is about to log,
 * before it sends the chain transaction (PublishPipeline: createRelease, then #stage sets
 * `targetsVersion` and `metadataHash`, then #logOnChain), so a legitimate release is always in
 * the store by the time its event can be read. A logged release is accounted for when a record has
 * the same snapshot version and hash, did not fail, and, once the server saw its transaction
 * mined, names that very transaction. The contract refuses a second entry for a version, so a
 * stolen publisher key can neither log a snapshot the server never built nor reuse one it did;
 * an entry that front-runs the server's own transaction makes the server's record `failed`, and
 * then alerts.
 */
export function releaseStoreRecords(store: {
  releases(): Promise<ReleaseRecord[]>;
}): ServerReleaseRecords {
  // Statuses move (pending -> logged -> confirmed, or failed): decide on fresh rows every time.
  return {
    async recorded(e) {
      const records = await store.releases();
      return records.some(
        (r) =>
          r.targetsVersion === e.metadataVersion &&
          r.status !== 'failed' &&
          r.metadataHash !== null &&
          r.metadataHash.toLowerCase() === e.metadataHash.toLowerCase() &&
          (r.chain === null || r.chain.txHash.toLowerCase() === e.txHash.toLowerCase()),
      );
    },
  };
}
