import { join } from 'node:path';
import { z } from 'zod';
import { AgentError } from '../error.js';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';
import {
  hardwareIdHash,
  toChainAgentError,
  type LoggedReleaseLike,
  type ReleaseLog,
  type TrustedCheckpoint,
} from './chain.js';

const hash = z.string().regex(/^0x[0-9a-f]{64}$/);
/** A release entry as the agent stores it (chain snapshot, release cache). */
export const releaseSchema = z.object({
  metadataVersion: z.number().int().nonnegative(),
  metadataHash: hash,
  txHash: hash,
  blockNumber: z.number().int().nonnegative(),
  blockHash: hash,
  firmware: z.array(
    z.object({ digest: hash, hardwareIdHash: hash, version: z.number().int().nonnegative() }),
  ),
});
const snapshotSchema = z.object({
  version: z.literal(1),
  chainId: z.number().int().nonnegative(),
  hardwareId: z.string().min(1),
  checkpoint: z.object({
    blockNumber: z.number().int().nonnegative(),
    blockHash: hash,
    timestamp: z.number().int().nonnegative(),
  }),
  releases: z.array(releaseSchema),
  recalled: z.array(hash),
  minimumVersion: z.number().int().nonnegative(),
});

/**
 * What the agent knew of the on-chain log at its last trusted checkpoint, for its own hardware ID:
 * the confirmed releases that carry firmware for it, which of their hashes were recalled, and the
 * minimum version. Offline installs are checked against it.
 */
export type ChainSnapshot = z.infer<typeof snapshotSchema>;

/** A ChainReader with the full replay (`releases()`) the snapshot needs. */
export interface ReplayableReleaseLog extends ReleaseLog {
  releases(): Promise<z.infer<typeof releaseSchema>[]>;
}

const lower = (h: string): string => h.toLowerCase();

/** The entry with only the firmware for hardware ID hash `hw` (lower case), hashes in lower case. */
export function withOwnFirmware(r: LoggedReleaseLike, hw: string): z.infer<typeof releaseSchema> {
  return {
    metadataVersion: r.metadataVersion,
    metadataHash: lower(r.metadataHash),
    txHash: lower(r.txHash),
    blockNumber: r.blockNumber,
    blockHash: lower(r.blockHash),
    firmware: r.firmware
      .filter((f) => lower(f.hardwareIdHash) === hw)
      .map((f) => ({
        digest: lower(f.digest),
        hardwareIdHash: lower(f.hardwareIdHash),
        version: f.version,
      })),
  };
}

function snapshotPath(stateDir: string): string {
  return join(stateDir, 'chain-snapshot.json');
}

/** Reads the log through the chain reader (quorum, confirmations) and stores the snapshot durably. */
export async function syncChainSnapshot(opts: {
  chain: ReplayableReleaseLog;
  hardwareId: string;
  chainId: number;
  stateDir: string;
}): Promise<ChainSnapshot> {
  const { chain } = opts;
  const ask = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toChainAgentError(err, 'chain snapshot');
    }
  };
  const checkpoint = await ask(() => chain.trustedTime());
  const hw = lower(hardwareIdHash(opts.hardwareId));
  // Every entry stays (a vehicle trusts whichever snapshot is newest, and each is logged), with
  // only this hardware ID's firmware: the list grows by ~200 bytes per snapshot version.
  const releases = (await ask(() => chain.releases()))
    .filter((r) => r.blockNumber <= checkpoint.blockNumber)
    .map((r) => withOwnFirmware(r, hw));
  const subjects = new Set<string>();
  for (const r of releases) {
    if (r.firmware.length === 0) continue;
    subjects.add(r.metadataHash);
    for (const f of r.firmware) subjects.add(f.digest);
  }
  const recalled: string[] = [];
  for (const s of subjects) if (await ask(() => chain.isRecalled(s))) recalled.push(s);
  const snapshot: ChainSnapshot = {
    version: 1,
    chainId: opts.chainId,
    hardwareId: opts.hardwareId,
    checkpoint: {
      blockNumber: checkpoint.blockNumber,
      blockHash: lower(checkpoint.blockHash),
      timestamp: checkpoint.timestamp,
    },
    releases,
    recalled,
    minimumVersion: await ask(() => chain.minimumVersion(opts.hardwareId)),
  };
  await writeJsonDurable(snapshotPath(opts.stateDir), snapshot);
  return snapshot;
}

export async function readChainSnapshot(stateDir: string): Promise<ChainSnapshot> {
  let raw: unknown;
  try {
    raw = await readJsonIfExists(snapshotPath(stateDir));
  } catch (err) {
    throw new AgentError('STATE_CORRUPT', 'chain snapshot is unreadable', { cause: err });
  }
  if (raw === undefined) {
    throw new AgentError(
      'CHAIN_SNAPSHOT_MISSING',
      'no chain snapshot: run `tufchain-agent sync-chain` online first (at the end of the line, or over a dealer’s network)',
    );
  }
  const parsed = snapshotSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AgentError('STATE_CORRUPT', 'chain snapshot is malformed', { cause: parsed.error });
  }
  return parsed.data;
}

const anyCaseHash = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const recordSchema = z.object({
  metadataVersion: z.number().int().nonnegative(),
  metadataHash: anyCaseHash,
  txHash: anyCaseHash,
  blockNumber: z.number().int().nonnegative(),
  blockHash: anyCaseHash,
  firmware: z.array(
    z.object({
      digest: anyCaseHash,
      hardwareIdHash: anyCaseHash,
      version: z.number().int().nonnegative(),
    }),
  ),
});

/** A release entry as the offline bundle carries it (`/transparency/release.json`). */
export type ReleaseRecord = z.infer<typeof recordSchema>;

/** Parses the bundle's release record; BUNDLE_INVALID when it is not a chain entry. */
export function parseReleaseRecord(bytes: Uint8Array): ReleaseRecord {
  try {
    return recordSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (err) {
    throw new AgentError('BUNDLE_INVALID', 'the bundle’s release record is not a chain entry', {
      cause: err,
    });
  }
}

/**
 * The on-chain log as of the snapshot's checkpoint, for installs without network. With the release
 * record an offline bundle carries, that record is checked when the agent asks for the metadata it
 * trusts: it must name exactly that metadata (BUNDLE_RELEASE_MISMATCH), and be the entry the sync
 * saw, in the same transaction and block with the same firmware for this hardware ID
 * (BUNDLE_RELEASE_MISMATCH), or name a block after the sync's checkpoint (CHAIN_SNAPSHOT_STALE:
 * sync first). The record adds no trust: a bundle without one is judged by the sync alone.
 */
export class SnapshotReleaseLog implements ReleaseLog {
  readonly snapshot: ChainSnapshot;
  readonly chainId: number;
  readonly #record: ReleaseRecord | undefined;

  constructor(snapshot: ChainSnapshot, bundleRecord?: ReleaseRecord) {
    this.snapshot = snapshot;
    this.chainId = snapshot.chainId;
    this.#record = bundleRecord;
  }

  findRelease(metadataHash: string): ReturnType<ReleaseLog['findRelease']> {
    const r = this.snapshot.releases.find((x) => x.metadataHash === lower(metadataHash));
    const refused = this.#checkRecord(lower(metadataHash), r);
    if (refused) return Promise.reject(refused);
    if (!r) {
      return Promise.reject(
        new AgentError(
          'METADATA_NOT_LOGGED',
          `metadata ${metadataHash} was not logged as of block ${this.snapshot.checkpoint.blockNumber}`,
        ),
      );
    }
    return Promise.resolve({
      ...r,
      confirmations: this.snapshot.checkpoint.blockNumber - r.blockNumber + 1,
    });
  }

  #checkRecord(
    metadataHash: string,
    synced: z.infer<typeof releaseSchema> | undefined,
  ): AgentError | undefined {
    const record = this.#record;
    if (!record) return undefined;
    const { checkpoint } = this.snapshot;
    if (lower(record.metadataHash) !== metadataHash) {
      return new AgentError(
        'BUNDLE_RELEASE_MISMATCH',
        `the bundle’s release record is for metadata ${record.metadataHash}, its metadata is ${metadataHash}`,
      );
    }
    if (!synced) {
      if (record.blockNumber > checkpoint.blockNumber) {
        return new AgentError(
          'CHAIN_SNAPSHOT_STALE',
          `the release was logged at block ${record.blockNumber}, after the last chain sync (block ${checkpoint.blockNumber}): sync with the chain first`,
        );
      }
      return undefined; // not logged as of the sync: METADATA_NOT_LOGGED
    }
    const own = withOwnFirmware(record, lower(hardwareIdHash(this.snapshot.hardwareId)));
    const same =
      own.metadataVersion === synced.metadataVersion &&
      own.txHash === synced.txHash &&
      own.blockNumber === synced.blockNumber &&
      own.blockHash === synced.blockHash &&
      JSON.stringify(own.firmware) === JSON.stringify(synced.firmware);
    return same
      ? undefined
      : new AgentError(
          'BUNDLE_RELEASE_MISMATCH',
          `the bundle’s release record (tx ${record.txHash}, block ${record.blockNumber}) is not the entry the last chain sync saw (tx ${synced.txHash}, block ${synced.blockNumber})`,
        );
  }

  isRecalled(digestOrMetadataHash: string): Promise<boolean> {
    return Promise.resolve(this.snapshot.recalled.includes(lower(digestOrMetadataHash)));
  }

  minimumVersion(hardwareId: string): Promise<number> {
    if (hardwareId !== this.snapshot.hardwareId) {
      return Promise.reject(
        new AgentError('CHAIN_SNAPSHOT_MISSING', `no snapshot for ${hardwareId}`),
      );
    }
    return Promise.resolve(this.snapshot.minimumVersion);
  }

  releases(): ReturnType<ReleaseLog['releases']> {
    return Promise.resolve(this.snapshot.releases);
  }

  trustedTime(): Promise<TrustedCheckpoint> {
    return Promise.resolve(this.snapshot.checkpoint);
  }
}
