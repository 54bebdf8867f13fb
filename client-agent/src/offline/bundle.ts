import { OfflineBundle, RELEASE_RECORD_MAX_BYTES } from '@tufchain/transparency/offline-bundle';
import { runUpdate, type UpdateOptions, type UpdateResult } from '../agent.js';
import { resolveConfig } from '../config.js';
import { AgentError } from '../error.js';
import {
  parseReleaseRecord,
  readChainSnapshot,
  SnapshotReleaseLog,
  type ChainSnapshot,
} from '../verify/chain-snapshot.js';

/** Where a bundle carries the release's chain entry, when its maker had a chain reader. */
const RELEASE_RECORD_PATH = '/transparency/release.json';

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

/** The bundle's own errors (@tufchain/transparency) under the agent's codes. */
async function openBundle(path: string): Promise<OfflineBundle> {
  try {
    return await OfflineBundle.open(path);
  } catch (err) {
    throw new AgentError('BUNDLE_INVALID', `cannot use ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * The last chain sync, if it is for this hardware ID and not older than
 * `offlineChainSnapshotMaxAgeSeconds` by the vehicle's clock (CHAIN_SNAPSHOT_STALE).
 */
async function usableChainSnapshot(
  stateDir: string,
  hardwareId: string,
  now: Date,
  maxAgeSeconds: number,
): Promise<ChainSnapshot> {
  const snapshot = await readChainSnapshot(stateDir);
  if (snapshot.hardwareId !== hardwareId) {
    throw new AgentError(
      'CHAIN_SNAPSHOT_MISSING',
      `the chain snapshot is for ${snapshot.hardwareId}`,
    );
  }
  const ageSeconds = now.getTime() / 1000 - snapshot.checkpoint.timestamp;
  if (maxAgeSeconds > 0 && ageSeconds > maxAgeSeconds) {
    throw new AgentError(
      'CHAIN_SNAPSHOT_STALE',
      `the last chain sync (block ${snapshot.checkpoint.blockNumber}) is ${Math.round(ageSeconds / 3600)} h old, more than ${Math.round(maxAgeSeconds / 3600)} h: sync with the chain first`,
    );
  }
  return snapshot;
}

/**
 * Installs an offline bundle with no network, under the same checks as runUpdate: tuf-js over the
 * bundle's metadata from the agent's trusted root, expiry against the later of the local clock and
 * the last trusted chain checkpoint, the release and image logged on chain as of that checkpoint
 * (the snapshot `syncChainSnapshot` stored while online, at most `offlineChainSnapshotMaxAgeSeconds`
 * old), not recalled, at least the minimum version, the OEM attestation, and policy. What the
 * bundle carries besides is checked too: its manifest (format, repository paths only, this
 * hardware ID) and its release record (against the metadata tuf-js trusts and the last sync). The
 * signed report waits in the outbox until online.
 */
export async function installOfflineBundle(opts: OfflineInstallOptions): Promise<UpdateResult> {
  const cfg = resolveConfig(opts.config);
  const stateDir = opts.stateDir ?? `${opts.metadataDir}/.agent`;
  const now = (opts.clock ?? (() => new Date()))();
  const snapshot = await usableChainSnapshot(
    stateDir,
    opts.hardwareId,
    now,
    cfg.offlineChainSnapshotMaxAgeSeconds,
  );
  const bundle = await openBundle(opts.bundlePath);
  if (bundle.manifest.hardwareId !== opts.hardwareId) {
    throw new AgentError(
      'HARDWARE_ID_MISMATCH',
      `the bundle is for ${bundle.manifest.hardwareId}, not ${opts.hardwareId}`,
    );
  }
  const recordBytes = await bundle
    .read(RELEASE_RECORD_PATH, RELEASE_RECORD_MAX_BYTES)
    .catch((err: unknown) => {
      throw new AgentError('BUNDLE_INVALID', 'the bundle’s release record is unreadable', {
        cause: err,
      });
    });
  const record = recordBytes && parseReleaseRecord(recordBytes);
  const served = await bundle.serve();
  try {
    const { bundlePath: _bundle, ...rest } = opts;
    return await runUpdate({
      ...rest,
      stateDir,
      serverUrl: served.url,
      chain: new SnapshotReleaseLog(snapshot, record),
      chainId: snapshot.chainId,
      sendReports: false,
      // Without the full image in the bundle, only the delta from the active image can install.
      ...(bundle.manifest.deltaOnly ? { deltaOnly: true } : {}),
    });
  } finally {
    await served.close();
  }
}
