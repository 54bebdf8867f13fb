import { createHash } from 'node:crypto';
import { id as keccakUtf8 } from 'ethers';
import { AgentError, type AgentErrorCode } from '../error.js';

export interface LoggedReleaseLike {
  metadataVersion: number;
  metadataHash: string;
  txHash: string;
  blockNumber: number;
  blockHash: string;
  firmware: { digest: string; hardwareIdHash: string; version: number }[];
}

/** The part of @tufchain/transparency's ChainReader the agent uses (a test double can implement it). */
export interface ReleaseLog {
  findRelease(metadataHash: string): Promise<LoggedReleaseLike & { confirmations: number }>;
  /** Every confirmed release entry, oldest first (replayed with the reader's quorum). */
  releases(): Promise<LoggedReleaseLike[]>;
  isRecalled(digestOrMetadataHash: string): Promise<boolean>;
  minimumVersion(hardwareId: string): Promise<number>;
  trustedTime(): Promise<TrustedCheckpoint>;
}

export interface TrustedCheckpoint {
  blockNumber: number;
  blockHash: string;
  /** Unix seconds of the latest confirmed block: a lower bound on the current time. */
  timestamp: number;
}

export interface VerifiedRelease {
  metadataVersion: number;
  metadataHash: string;
  txHash: string;
  blockNumber: number;
  blockHash: string;
  confirmations: number;
}

export function sha256Hex0x(bytes: Uint8Array): string {
  return '0x' + createHash('sha256').update(bytes).digest('hex');
}

/** keccak256 of the UTF-8 hardware ID, as the contract stores it. */
export function hardwareIdHash(hardwareId: string): string {
  return keccakUtf8(hardwareId);
}

const TRANSPARENCY_CODES: Record<string, AgentErrorCode> = {
  METADATA_NOT_LOGGED: 'METADATA_NOT_LOGGED',
  NOT_CONFIRMED: 'NOT_CONFIRMED',
  QUORUM_DISAGREES: 'QUORUM_DISAGREES',
  RPC_UNAVAILABLE: 'RPC_UNAVAILABLE',
};

/** Maps a TransparencyError (or any failure of the chain reader) to an AgentError. */
export function toChainAgentError(err: unknown, what: string): AgentError {
  if (err instanceof AgentError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const mapped = typeof code === 'string' ? TRANSPARENCY_CODES[code] : undefined;
  return new AgentError(
    mapped ?? 'CHAIN_CHECK_FAILED',
    `${what}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

async function ask<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toChainAgentError(err, what);
  }
}

/** The value, or the question's own error: lets questions go out together yet fail in order. */
function answer<T>(settled: PromiseSettledResult<T>): T {
  if (settled.status === 'rejected') throw settled.reason;
  return settled.value;
}

export interface VerifyReleaseInput {
  chain: ReleaseLog;
  /** The exact bytes of the trusted snapshot metadata (it names every targets-role version). */
  snapshotBytes: Uint8Array;
  /** `signed.version` of that snapshot. */
  snapshotVersion: number;
  hardwareId: string;
  target: { name: string; sha256: string; releaseCounter: number };
  /**
   * The Director chose this image (Uptane): a newer logged one may exist and is not a withholding
   * (the Director's choice is itself logged, and each ECU refuses a downgrade). Without a
   * Director the repository names the image, and a newer logged one is RELEASE_WITHHELD.
   */
  chosenByDirector?: boolean;
}

/**
 * The transparency gate: exactly the snapshot the agent trusts is logged and confirmed (agreed by
 * the reader's RPC quorum), at the same version; the image digest is logged for this hardware ID
 * at this release counter, by that entry or an earlier one; nothing of it is recalled; the counter
 * meets the on-chain minimum; no newer image for the hardware ID is withheld (unless the Director
 * chose it).
 */
export async function verifyReleaseOnChain(input: VerifyReleaseInput): Promise<VerifiedRelease> {
  const { chain, target, hardwareId } = input;
  const metadataHash = sha256Hex0x(input.snapshotBytes);
  const digest = '0x' + target.sha256.toLowerCase();
  // The independent questions go out at once (one RPC round trip instead of five in a row); the
  // answers are judged in the order below, so the error for a given chain state never changes.
  const [releaseAsked, allAsked, digestRecalledAsked, metadataRecalledAsked, minimumAsked] =
    await Promise.allSettled([
      ask('snapshot metadata on chain', () => chain.findRelease(metadataHash)),
      ask('release entries on chain', () => chain.releases()),
      ask('recall of the image', () => chain.isRecalled(digest)),
      ask('recall of the metadata', () => chain.isRecalled(metadataHash)),
      ask('minimum version', () => chain.minimumVersion(hardwareId)),
    ]);
  const release = answer(releaseAsked);
  if (release.metadataHash.toLowerCase() !== metadataHash) {
    throw new AgentError('METADATA_NOT_LOGGED', 'chain answered for a different metadata hash');
  }
  if (release.metadataVersion !== input.snapshotVersion) {
    throw new AgentError(
      'METADATA_VERSION_MISMATCH',
      `logged version ${release.metadataVersion} but trusted snapshot version ${input.snapshotVersion}`,
    );
  }
  const hwHash = hardwareIdHash(hardwareId).toLowerCase();
  const carries = (r: LoggedReleaseLike): boolean =>
    r.firmware.some(
      (f) =>
        f.digest.toLowerCase() === digest &&
        f.hardwareIdHash.toLowerCase() === hwHash &&
        f.version === target.releaseCounter,
    );
  // The entry that added the image: usually an earlier snapshot's, never a later one.
  const all = answer(allAsked);
  const covered = all.filter(
    (r) => r.blockNumber <= release.blockNumber && r.metadataVersion <= release.metadataVersion,
  );
  let added: LoggedReleaseLike | undefined = carries(release) ? release : undefined;
  added ??= covered.find(carries);
  if (!added) {
    throw new AgentError(
      'DIGEST_NOT_LOGGED',
      `image ${target.name} is not logged for ${hardwareId} at release ${target.releaseCounter}`,
    );
  }
  const addedHash = added.metadataHash.toLowerCase();
  const addedRecalled =
    addedHash !== metadataHash &&
    (await ask('recall of the release', () => chain.isRecalled(addedHash)));
  const digestRecalled = answer(digestRecalledAsked);
  const metadataRecalled = answer(metadataRecalledAsked);
  if (addedRecalled) {
    throw new AgentError('RECALLED', `release ${target.name} is recalled on chain`);
  }
  if (digestRecalled || metadataRecalled) {
    throw new AgentError('RECALLED', `release ${target.name} is recalled on chain`);
  }
  const minimum = answer(minimumAsked);
  if (target.releaseCounter < minimum) {
    throw new AgentError(
      'BELOW_MINIMUM_VERSION',
      `release ${target.releaseCounter} is below the on-chain minimum ${minimum} for ${hardwareId}`,
    );
  }
  // Withholding: the server names the image to install (with hashed bins a vehicle cannot list
  // them all), so it could keep quiet about a newer one. The chain cannot: an unrecalled image for
  // this hardware ID with a higher counter, logged by the trusted snapshot or an earlier one, is in
  // the metadata the vehicle trusts and should have been offered.
  const newer = (input.chosenByDirector ? [] : covered)
    .flatMap((r) => r.firmware)
    .filter((f) => f.hardwareIdHash.toLowerCase() === hwHash && f.version > target.releaseCounter);
  for (const f of newer) {
    if (!(await ask('recall of a newer image', () => chain.isRecalled(f.digest)))) {
      throw new AgentError(
        'RELEASE_WITHHELD',
        `release ${f.version} for ${hardwareId} (${f.digest}) is logged and not recalled, but the repository offered ${target.releaseCounter}`,
      );
    }
  }
  return {
    metadataVersion: release.metadataVersion,
    metadataHash,
    txHash: release.txHash,
    blockNumber: release.blockNumber,
    blockHash: release.blockHash,
    confirmations: release.confirmations,
  };
}

/** Confirmed chain time, used as a floor for "now" when checking metadata expiry. */
export async function readTrustedTime(chain: ReleaseLog): Promise<TrustedCheckpoint> {
  return ask('trusted chain time', () => chain.trustedTime());
}
