/**
 * `tufchain export-static`: copies the repository a server serves into a directory any web server
 * or CDN can serve, with the server's exact URL layout. Fetch first, then check, then write: every
 * versioned file and target, then `root.json`, and `timestamp.json` last, only once the chain
 * has confirmed the snapshot that timestamp pins (the check each vehicle makes).
 */
import { createHash } from 'node:crypto';
import { Metadata, MetadataKind, type Root, type Snapshot, type Timestamp } from '@tufjs/models';
import type { ApiClient } from '../api-client.js';
import { CliError } from '../error.js';
import {
  checkVersionedFile,
  exportTarget,
  readExportFile,
  syncExportDirectories,
  writeExportFile,
} from './files.js';
import {
  checkMetadataVersion,
  readSnapshotPin,
  readSnapshotRoles,
  readTargets,
  targetFilePaths,
  versionedMetadataPath,
  type ExportTarget,
  type SnapshotPin,
} from './layout.js';

/** The part of @tufchain/transparency's ChainReader the export asks (the agent asks the same). */
export interface SnapshotLog {
  findRelease(metadataHash: string): Promise<{
    metadataVersion: number;
    metadataHash: string;
    txHash: string;
    blockNumber: number;
    confirmations: number;
  }>;
}

/** The served repository at one moment: the bytes of every file the export writes. */
interface ServedRepository {
  rootBytes: Uint8Array;
  rootVersion: number;
  timestampBytes: Uint8Array;
  pin: SnapshotPin;
  snapshotBytes: Uint8Array;
  /** `metadata/{N}.{role}.json` → bytes: every root version, the snapshot, every targets role. */
  versioned: Map<string, Uint8Array>;
  targets: ExportTarget[];
}

export interface ExportResult {
  dir: string;
  timestampVersion: number;
  snapshotVersion: number;
  rootVersion: number;
  /** `0x` + sha256 of the snapshot, as logged on chain. */
  metadataHash: string;
  chain: { txHash: string; blockNumber: number; confirmations: number };
  metadataWritten: number;
  metadataUnchanged: number;
  targetsWritten: number;
  targetsUnchanged: number;
  timestampWritten: boolean;
}

const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function parseMetadata(
  kind: MetadataKind,
  bytes: Uint8Array,
  what: string,
): Metadata<Root | Timestamp | Snapshot> {
  try {
    return Metadata.fromJSON(
      kind as MetadataKind.Root,
      JSON.parse(new TextDecoder().decode(bytes)) as never,
    );
  } catch (error) {
    throw new CliError('UNEXPECTED_RESPONSE', `the server's ${what} does not parse`, {
      cause: error,
    });
  }
}

async function fetchServedRepository(
  api: ApiClient,
  dir: string,
  verified: ReadonlySet<string>,
): Promise<ServedRepository> {
  // A versioned file this process already checked never changes: read back, not fetched again.
  const getVersioned = async (path: string): Promise<Uint8Array> =>
    (verified.has(path) ? await readExportFile(dir, path) : undefined) ??
    (await api.getBytes(`/${path}`));
  // The timestamp first: everything else is what it pins, and versioned files never change, so
  // a publish landing meanwhile cannot mix two states into the export.
  const timestampBytes = await api.getBytes('/metadata/timestamp.json');
  const pin = readSnapshotPin(timestampBytes);
  const rootBytes = await api.getBytes('/metadata/root.json');
  const rootVersion = (parseMetadata(MetadataKind.Root, rootBytes, 'root') as Metadata<Root>).signed
    .version;
  const versioned = new Map<string, Uint8Array>();
  for (let v = 1; v <= rootVersion; v++) {
    const path = versionedMetadataPath('root', v);
    const bytes = await getVersioned(path);
    checkMetadataVersion(bytes, 'root', v, path);
    if (v === rootVersion && !Buffer.from(bytes).equals(rootBytes)) {
      throw new CliError('METADATA_MISMATCH', `root.json and ${path} differ`);
    }
    versioned.set(path, bytes);
  }
  const snapshotPath = versionedMetadataPath('snapshot', pin.snapshotVersion);
  const snapshotBytes = await getVersioned(snapshotPath);
  versioned.set(snapshotPath, snapshotBytes);
  const targets: ExportTarget[] = [];
  for (const [role, version] of readSnapshotRoles(snapshotBytes)) {
    const path = versionedMetadataPath(role, version);
    const bytes = await getVersioned(path);
    checkMetadataVersion(bytes, 'targets', version, path);
    versioned.set(path, bytes);
    targets.push(...readTargets(bytes, path));
  }
  return { rootBytes, rootVersion, timestampBytes, pin, snapshotBytes, versioned, targets };
}

/**
 * The timestamp and snapshot are signed by the current root's keys and agree with each other.
 * The vehicles check all of it again; this keeps a broken or forged answer out of the export.
 */
function checkServedRepository(served: ServedRepository): void {
  const root = parseMetadata(MetadataKind.Root, served.rootBytes, 'root');
  const timestamp = parseMetadata(MetadataKind.Timestamp, served.timestampBytes, 'timestamp');
  const snapshotPath = versionedMetadataPath('snapshot', served.pin.snapshotVersion);
  checkMetadataVersion(served.snapshotBytes, 'snapshot', served.pin.snapshotVersion, snapshotPath);
  const snapshot = parseMetadata(MetadataKind.Snapshot, served.snapshotBytes, snapshotPath);
  for (const [role, md] of [
    ['timestamp', timestamp],
    ['snapshot', snapshot],
  ] as const) {
    try {
      root.verifyDelegate(role, md);
    } catch (error) {
      throw new CliError(
        'SIGNATURE_INVALID',
        `the server's ${role} is not signed by a threshold of the current root's ${role} keys`,
        { cause: error },
      );
    }
  }
  const { sha256, length } = served.pin;
  if (
    (sha256 !== undefined && sha256 !== sha256Hex(served.snapshotBytes)) ||
    (length !== undefined && length !== served.snapshotBytes.byteLength)
  ) {
    throw new CliError(
      'METADATA_MISMATCH',
      `${snapshotPath} does not have the hash and length the timestamp pins`,
    );
  }
}

/** The snapshot the timestamp pins is logged and confirmed on chain, at the same version. */
async function confirmSnapshotLogged(
  chain: SnapshotLog,
  served: ServedRepository,
): Promise<ExportResult['chain'] & { metadataHash: string }> {
  const metadataHash = `0x${sha256Hex(served.snapshotBytes)}`;
  const logged = await chain.findRelease(metadataHash);
  if (logged.metadataVersion !== served.pin.snapshotVersion) {
    throw new CliError(
      'METADATA_VERSION_MISMATCH',
      `the chain logs ${metadataHash} as version ${logged.metadataVersion}, the snapshot is version ${served.pin.snapshotVersion}`,
    );
  }
  return {
    metadataHash,
    txHash: logged.txHash,
    blockNumber: logged.blockNumber,
    confirmations: logged.confirmations,
  };
}

/** The timestamp already exported must not be newer than the one about to replace it. */
async function checkNoRollback(dir: string, pin: SnapshotPin): Promise<void> {
  const present = await readExportFile(dir, 'metadata/timestamp.json');
  if (present === undefined) return;
  let exported: SnapshotPin;
  try {
    exported = readSnapshotPin(present);
  } catch {
    return; // an unreadable old timestamp is replaced
  }
  if (
    exported.timestampVersion > pin.timestampVersion ||
    exported.snapshotVersion > pin.snapshotVersion
  ) {
    throw new CliError(
      'TIMESTAMP_ROLLBACK',
      `the export already holds timestamp v${exported.timestampVersion} (snapshot v${exported.snapshotVersion}); the server serves v${pin.timestampVersion} (snapshot v${pin.snapshotVersion})`,
    );
  }
}

export interface ExportStaticOptions {
  api: ApiClient;
  /** The export directory (the web server's root). */
  dir: string;
  chain: SnapshotLog;
  /**
   * Export paths this process has already checked or written (a `--watch` keeps it between
   * rounds): neither fetched nor hashed again, so a round costs the timestamp, the root and what
   * is new. Filled in by each round that completes. A single run starts empty and checks all.
   */
  verified?: Set<string>;
}

/** The versioned files not exported yet; throws VERSIONED_FILE_CHANGED before anything is written. */
async function planMetadataWrites(
  dir: string,
  served: ServedRepository,
): Promise<{ pending: [string, Uint8Array][]; unchanged: number }> {
  const pending: [string, Uint8Array][] = [];
  let unchanged = 0;
  for (const [rel, bytes] of served.versioned) {
    if ((await checkVersionedFile(dir, rel, bytes)) === 'written') pending.push([rel, bytes]);
    else unchanged++;
  }
  return { pending, unchanged };
}

async function writeTargets(
  api: ApiClient,
  dir: string,
  targets: readonly ExportTarget[],
  verified: ReadonlySet<string>,
): Promise<{ written: number; unchanged: number }> {
  let written = 0;
  const writtenPaths: string[] = [];
  for (const target of targets) {
    const paths = targetFilePaths(target);
    if (paths.every((path) => verified.has(path))) continue;
    if ((await exportTarget(api, dir, target, paths)) === 'written') {
      written++;
      writtenPaths.push(...paths);
    }
  }
  await syncExportDirectories(dir, writtenPaths);
  return { written, unchanged: targets.length - written };
}

/**
 * Roots and delegated roles, then the snapshot that lists them: a reader of the directory never
 * finds a file naming one not yet there (nor, after a power cut, one lost).
 */
async function writeMetadata(
  dir: string,
  pending: readonly [string, Uint8Array][],
  snapshotPath: string,
): Promise<void> {
  const ordered = [...pending].sort(
    ([a], [b]) => Number(a === snapshotPath) - Number(b === snapshotPath),
  );
  for (const [rel, bytes] of ordered) {
    if (rel === snapshotPath)
      await syncExportDirectories(
        dir,
        ordered.map(([path]) => path),
      );
    await writeExportFile(dir, rel, bytes);
  }
  await syncExportDirectories(
    dir,
    ordered.map(([path]) => path),
  );
}

/** `root.json`, then `timestamp.json`: whichever changed. Returns whether the timestamp did. */
async function writeAliases(dir: string, served: ServedRepository): Promise<boolean> {
  const rootAlias = await readExportFile(dir, 'metadata/root.json');
  if (rootAlias === undefined || !rootAlias.equals(served.rootBytes)) {
    await writeExportFile(dir, 'metadata/root.json', served.rootBytes);
  }
  const timestamp = await readExportFile(dir, 'metadata/timestamp.json');
  if (timestamp !== undefined && timestamp.equals(served.timestampBytes)) return false;
  await writeExportFile(dir, 'metadata/timestamp.json', served.timestampBytes);
  await syncExportDirectories(dir, ['metadata/timestamp.json']);
  return true;
}

export async function exportStaticRepository(opts: ExportStaticOptions): Promise<ExportResult> {
  const { api, dir, chain } = opts;
  const verified = opts.verified ?? new Set<string>();
  const served = await fetchServedRepository(api, dir, verified);
  checkServedRepository(served);
  await checkNoRollback(dir, served.pin);
  const onChain = await confirmSnapshotLogged(chain, served);

  const metadata = await planMetadataWrites(dir, served);
  const targets = await writeTargets(api, dir, served.targets, verified);
  const snapshotPath = versionedMetadataPath('snapshot', served.pin.snapshotVersion);
  await writeMetadata(dir, metadata.pending, snapshotPath);
  const timestampWritten = await writeAliases(dir, served);

  for (const path of served.versioned.keys()) verified.add(path);
  for (const target of served.targets) {
    for (const path of targetFilePaths(target)) verified.add(path);
  }
  return {
    dir,
    timestampVersion: served.pin.timestampVersion,
    snapshotVersion: served.pin.snapshotVersion,
    rootVersion: served.rootVersion,
    metadataHash: onChain.metadataHash,
    chain: {
      txHash: onChain.txHash,
      blockNumber: onChain.blockNumber,
      confirmations: onChain.confirmations,
    },
    metadataWritten: metadata.pending.length,
    metadataUnchanged: metadata.unchanged,
    targetsWritten: targets.written,
    targetsUnchanged: targets.unchanged,
    timestampWritten,
  };
}
