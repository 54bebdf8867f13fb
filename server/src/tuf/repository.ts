import type { Targets } from '@tufjs/models';
import { Metadata } from '@tufjs/models';
import {
  defaultConfig,
  resolveConfig,
  systemClock,
  type Clock,
  type ExpiryConfig,
} from '../config.js';
import { ServerError } from '../error.js';
import type { NewMetadataRecord, RepositoryStore } from '../storage/store.js';
import { expiryAfter } from './expiry.js';
import {
  BINS_ROLE,
  buildBinsDelegator,
  buildSnapshot,
  buildTargets,
  buildTopDelegations,
  supplierDelegations,
  usesBins,
} from './layout.js';
import {
  binsSignersOf,
  buildRoot,
  buildTimestamp,
  parseMetadata,
  recordOf,
  toArray,
  type OnlineSigners,
} from './metadata.js';
import type { ReleaseLog } from './release-log.js';
import { sha256Hex, signMetadata, type TufSigner } from './signer.js';

export type { OnlineSigners };

export interface InitRepositoryOptions {
  store: RepositoryStore;
  /** Offline root keys; used once here, never kept. */
  rootSigners: readonly TufSigner[];
  /** Root threshold (default: all root signers). */
  threshold?: number;
  /** Signers for the initial targets, snapshot and timestamp; their keys are authorized in root. */
  onlineSigners: Required<Omit<OnlineSigners, 'bins'>> & Pick<OnlineSigners, 'bins'>;
  /** TAP 15 bins: 2^binBits (default 7). */
  binBits?: number;
  thresholds?: { targets?: number; snapshot?: number; timestamp?: number };
  expiries?: Partial<ExpiryConfig>;
  clock?: Clock;
  /** When given, targets v1 is logged on chain before anything becomes visible. */
  releaseLog?: ReleaseLog;
}

export interface InitRepositoryResult {
  /** Exact bytes of 1.root.json: the trust anchor to provision into vehicles. */
  rootBytes: Uint8Array;
  rootJson: unknown;
  targetsVersion: number;
}

/** Bootstraps root v1 and empty targets/snapshot/timestamp v1; visible in one commit. */
export async function initRepository(opts: InitRepositoryOptions): Promise<InitRepositoryResult> {
  const clock = opts.clock ?? systemClock;
  const now = clock();
  const expiries = resolveConfig({ expiries: opts.expiries ?? {} }).expiries;
  if (await opts.store.currentMetadata('root')) {
    throw new ServerError('REPOSITORY_ALREADY_INITIALIZED', 'the repository already has a root');
  }
  await opts.store.discardFailedBootstrap();
  const rootSigners = opts.rootSigners;
  if (rootSigners.length === 0)
    throw new ServerError('INVALID_REQUEST', 'at least one root signer is required');
  const roleSigners = {
    root: rootSigners,
    targets: toArray(opts.onlineSigners.targets),
    snapshot: toArray(opts.onlineSigners.snapshot),
    timestamp: toArray(opts.onlineSigners.timestamp),
  };
  const thresholds = {
    root: opts.threshold ?? rootSigners.length,
    targets: opts.thresholds?.targets ?? 1,
    snapshot: opts.thresholds?.snapshot ?? 1,
    timestamp: opts.thresholds?.timestamp ?? 1,
  };
  for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
    if (thresholds[role] < 1 || roleSigners[role].length < thresholds[role]) {
      throw new ServerError(
        'INVALID_REQUEST',
        `${role} needs at least ${thresholds[role]} signers`,
      );
    }
  }
  const root = buildRoot({
    version: 1,
    expires: expiryAfter(now, expiries.root),
    roles: {
      root: { keys: roleSigners.root, threshold: thresholds.root },
      targets: { keys: roleSigners.targets, threshold: thresholds.targets },
      snapshot: { keys: roleSigners.snapshot, threshold: thresholds.snapshot },
      timestamp: { keys: roleSigners.timestamp, threshold: thresholds.timestamp },
    },
  });
  const rootMd = new Metadata(root);
  await signMetadata(rootMd, rootSigners);

  return finishInit({
    store: opts.store,
    rootRecord: recordOf('root', rootMd),
    targets: { sign: roleSigners.targets },
    snapshotSigners: roleSigners.snapshot,
    timestampSigners: roleSigners.timestamp,
    binsSigners: binsSignersOf(opts.onlineSigners),
    binBits: opts.binBits ?? defaultConfig.binBits,
    expiries,
    now,
    releaseLog: opts.releaseLog,
  });
}

export interface InitRepositoryFromRootOptions {
  store: RepositoryStore;
  /** Exact bytes of 1.root.json as signed offline (e.g. by the `tufchain repo` ceremony). */
  rootBytes: Uint8Array;
  /** Online keys authorized by that root; with no `targets`, `signedTargets` is required. */
  onlineSigners: OnlineSigners;
  /** Targets v1 signed offline by a threshold of the root's targets keys. */
  signedTargets?: Uint8Array;
  expiries?: Partial<ExpiryConfig>;
  clock?: Clock;
  releaseLog?: ReleaseLog;
  binBits?: number;
}

/**
 * Bootstraps from a root signed offline: the server never sees a root key.
 * The root must be version 1, consistent-snapshot, unexpired and signed by a
 * threshold of its own root keys.
 */
export async function initRepositoryFromRoot(
  opts: InitRepositoryFromRootOptions,
): Promise<InitRepositoryResult> {
  const now = (opts.clock ?? systemClock)();
  const expiries = resolveConfig({ expiries: opts.expiries ?? {} }).expiries;
  if (await opts.store.currentMetadata('root')) {
    throw new ServerError('REPOSITORY_ALREADY_INITIALIZED', 'the repository already has a root');
  }
  await opts.store.discardFailedBootstrap();
  const root = parseMetadata('root', opts.rootBytes);
  if (root.signed.version !== 1 || !root.signed.consistentSnapshot || root.signed.isExpired(now)) {
    throw new ServerError(
      'ROOT_ROTATION_INVALID',
      'the initial root must be version 1, consistent_snapshot, unexpired',
    );
  }
  try {
    root.verifyDelegate('root', root);
  } catch (error) {
    throw new ServerError(
      'METADATA_SIGNATURE_INVALID',
      'root is not signed by a threshold of its root keys',
      { cause: error },
    );
  }
  const authorized = (
    role: 'targets' | 'snapshot' | 'timestamp',
    signers: readonly TufSigner[],
  ): TufSigner[] => {
    const def = root.signed.roles[role];
    const chosen = signers.filter((s) => def?.keyIDs.includes(s.keyId));
    if (!def || chosen.length < def.threshold) {
      throw new ServerError(
        'ONLINE_KEY_NOT_AUTHORIZED',
        `the ${role} keys given are not a threshold of root's ${role} role`,
      );
    }
    return chosen;
  };
  let targets: { sign: readonly TufSigner[] } | { bytes: Uint8Array };
  if (opts.signedTargets) {
    const md = parseMetadata('targets', opts.signedTargets);
    try {
      root.verifyDelegate('targets', md);
    } catch (error) {
      throw new ServerError(
        'METADATA_SIGNATURE_INVALID',
        'targets v1 is not signed by a threshold of targets keys',
        { cause: error },
      );
    }
    if (md.signed.version !== 1)
      throw new ServerError('METADATA_MALFORMED', 'the initial targets must be version 1');
    targets = { bytes: opts.signedTargets };
  } else {
    targets = { sign: authorized('targets', toArray(opts.onlineSigners.targets)) };
  }
  return finishInit({
    store: opts.store,
    rootRecord: {
      role: 'root',
      version: 1,
      bytes: opts.rootBytes,
      sha256: sha256Hex(opts.rootBytes),
      expires: root.signed.expires,
    },
    targets,
    snapshotSigners: authorized('snapshot', toArray(opts.onlineSigners.snapshot)),
    timestampSigners: authorized('timestamp', toArray(opts.onlineSigners.timestamp)),
    binsSigners: binsSignersOf(opts.onlineSigners),
    binBits: opts.binBits ?? defaultConfig.binBits,
    expiries,
    now,
    releaseLog: opts.releaseLog,
  });
}

async function finishInit(o: {
  store: RepositoryStore;
  rootRecord: NewMetadataRecord;
  targets: { sign: readonly TufSigner[] } | { bytes: Uint8Array };
  snapshotSigners: readonly TufSigner[];
  timestampSigners: readonly TufSigner[];
  binsSigners: readonly TufSigner[];
  binBits: number;
  expiries: ExpiryConfig;
  now: Date;
  releaseLog: ReleaseLog | undefined;
}): Promise<InitRepositoryResult> {
  let targetsRecord: NewMetadataRecord;
  let top: Targets;
  if ('bytes' in o.targets) {
    const md = parseMetadata('targets', o.targets.bytes);
    top = md.signed;
    targetsRecord = {
      role: 'targets',
      version: 1,
      bytes: o.targets.bytes,
      sha256: sha256Hex(o.targets.bytes),
      expires: md.signed.expires,
    };
  } else {
    const targetsMd = buildTargets({
      version: 1,
      expires: expiryAfter(o.now, o.expiries.targets),
      targets: {},
      delegations: buildTopDelegations({ binsKeys: o.binsSigners, suppliers: [] }),
    });
    await signMetadata(targetsMd, o.targets.sign);
    top = targetsMd.signed;
    targetsRecord = recordOf('targets', targetsMd);
  }
  supplierDelegations(top);
  const roles: NewMetadataRecord[] = [targetsRecord];
  if (usesBins(top)) {
    roles.push(
      ...(await buildInitialBins({
        top,
        signers: o.binsSigners,
        bitLength: o.binBits,
        expires: expiryAfter(o.now, o.expiries.targets),
      })),
    );
  }
  const snapshotMd = buildSnapshot(
    1,
    expiryAfter(o.now, o.expiries.snapshot),
    new Map(roles.map((r) => [r.role, r.version])),
  );
  await signMetadata(snapshotMd, o.snapshotSigners);
  const snapshotRecord = recordOf('snapshot', snapshotMd);
  const timestampMd = buildTimestamp(
    1,
    expiryAfter(o.now, o.expiries.timestamp),
    1,
    snapshotRecord.bytes,
  );
  await signMetadata(timestampMd, o.timestampSigners);
  const records = [o.rootRecord, ...roles, snapshotRecord, recordOf('timestamp', timestampMd)];
  await o.store.stageMetadata(records);
  const keys = records.map((r) => ({ role: r.role, version: r.version }));
  if (o.releaseLog) {
    try {
      await o.releaseLog.logRelease({
        metadataVersion: 1,
        metadataHash: `0x${snapshotRecord.sha256}`,
        firmware: [],
      });
    } catch (error) {
      await o.store.abandonMetadata(keys);
      throw new ServerError('CHAIN_LOG_FAILED', 'logging snapshot v1 on chain failed', {
        cause: error,
      });
    }
  }
  await o.store.commitMetadata(keys);
  return {
    rootBytes: o.rootRecord.bytes,
    rootJson: JSON.parse(new TextDecoder().decode(o.rootRecord.bytes)) as unknown,
    targetsVersion: 1,
  };
}

/** `bins` v1 and every hashed bin v1 (empty): TAP 15 clients expect each bin to exist. */
export async function buildInitialBins(o: {
  top: Targets;
  signers: readonly TufSigner[];
  bitLength: number;
  expires: string;
}): Promise<NewMetadataRecord[]> {
  if (!Number.isInteger(o.bitLength) || o.bitLength < 1 || o.bitLength > 14) {
    throw new ServerError('INVALID_REQUEST', 'binBits must be an integer from 1 to 14');
  }
  const delegated = o.top.delegations?.roles?.[BINS_ROLE];
  const chosen = o.signers.filter((s) => delegated?.keyIDs.includes(s.keyId));
  if (!delegated || chosen.length < delegated.threshold) {
    throw new ServerError(
      'ONLINE_KEY_NOT_AUTHORIZED',
      'targets delegates bins to keys this server does not hold',
    );
  }
  const binsMd = buildBinsDelegator({
    version: 1,
    expires: o.expires,
    binsKeys: chosen,
    bitLength: o.bitLength,
  });
  await signMetadata(binsMd, chosen);
  const out = [recordOf(BINS_ROLE, binsMd)];
  for (const name of binsMd.signed.delegations!.succinctRoles!.getRoles()) {
    const bin = buildTargets({ version: 1, expires: o.expires, targets: {} });
    await signMetadata(bin, chosen);
    out.push(recordOf(name, bin));
  }
  return out;
}
