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
      'no chain snapshot: sync with the chain online first',
    );
  }
  const parsed = snapshotSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AgentError('STATE_CORRUPT', 'chain snapshot is malformed', { cause: parsed.error });
  }
  return parsed.data;
}

/** The on-chain log as of the snapshot's checkpoint, for installs without network. */
export class SnapshotReleaseLog implements ReleaseLog {
  readonly snapshot: ChainSnapshot;
  readonly chainId: number;

  constructor(snapshot: ChainSnapshot) {
    this.snapshot = snapshot;
    this.chainId = snapshot.chainId;
  }

  findRelease(metadataHash: string): ReturnType<ReleaseLog['findRelease']> {
    const r = this.snapshot.releases.find((x) => x.metadataHash === lower(metadataHash));
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
