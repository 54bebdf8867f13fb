import { OfflineBundle } from '@tufchain/transparency/offline-bundle';
import { runUpdate, type UpdateOptions, type UpdateResult } from '../agent.js';
import { AgentError } from '../error.js';
import { readChainSnapshot, SnapshotReleaseLog } from '../verify/chain-snapshot.js';

// The bundle format and the dealer tool's builder live in @tufchain/transparency (shared with
// the OEM command line, `tufchain bundle create`); installing one is the agent's.
export {
  createOfflineBundle,
  OfflineBundle,
  OFFLINE_BUNDLE_FORMAT,
} from '@tufchain/transparency/offline-bundle';

export type OfflineInstallOptions = Omit<UpdateOptions, 'serverUrl' | 'chain' | 'sendReports'> & {
  bundlePath: string;
};

/**
 * Installs an offline bundle with no network, under the same checks as runUpdate: tuf-js over the
 * bundle's metadata from the agent's trusted root, expiry against the later of the local clock and
 * the last trusted chain checkpoint, the release and image logged on chain as of that checkpoint
 * (the snapshot `syncChainSnapshot` stored while online), not recalled, at least the minimum
 * version, the OEM attestation, and policy. The signed report waits in the outbox until online.
 */
export async function installOfflineBundle(opts: OfflineInstallOptions): Promise<UpdateResult> {
  const stateDir = opts.stateDir ?? `${opts.metadataDir}/.agent`;
  const snapshot = await readChainSnapshot(stateDir);
  if (snapshot.hardwareId !== opts.hardwareId) {
    throw new AgentError(
      'CHAIN_SNAPSHOT_MISSING',
      `the chain snapshot is for ${snapshot.hardwareId}`,
    );
  }
  const bundle = await OfflineBundle.open(opts.bundlePath);
  const served = await bundle.serve();
  try {
    const { bundlePath: _bundle, ...rest } = opts;
    return await runUpdate({
      ...rest,
      stateDir,
      serverUrl: served.url,
      chain: new SnapshotReleaseLog(snapshot),
      chainId: snapshot.chainId,
      sendReports: false,
    });
  } finally {
    await served.close();
  }
}
