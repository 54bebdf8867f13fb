import { zeroPadValue, toBeHex, type Provider } from 'ethers';
import { ContractsError } from './error.js';
import { connectTufchainLog, tufchainLogInterface } from './tufchain-log.js';

export interface LatestRelease {
  metadataVersion: number;
  /** 0x-hex sha256 of the targets metadata; null before the first release. */
  metadataHash: string | null;
  /** Block of the latest release; the deployment block before the first. */
  blockNumber: number;
  releaseCount: number;
}

/**
 * latestRelease() plus the metadata hash, which the contract does not store: it reads the one
 * ReleaseLogged log of that version in that block. Use a block tag to read a confirmed state.
 */
export async function readLatestRelease(
  provider: Provider,
  address: string,
  opts: { blockTag?: number | 'latest' } = {},
): Promise<LatestRelease> {
  const log = connectTufchainLog(address, provider);
  const [version, blockNumber, releaseCount] = (await log
    .getFunction('latestRelease')
    .staticCall({ blockTag: opts.blockTag ?? 'latest' })) as [bigint, bigint, bigint];
  const head = {
    metadataVersion: Number(version),
    blockNumber: Number(blockNumber),
    releaseCount: Number(releaseCount),
  };
  if (version === 0n) return { ...head, metadataHash: null };
  const event = tufchainLogInterface().getEvent('ReleaseLogged');
  if (!event) throw new ContractsError('ARTIFACT_MALFORMED', 'ReleaseLogged missing from the ABI');
  const logs = await provider.getLogs({
    address,
    fromBlock: head.blockNumber,
    toBlock: head.blockNumber,
    topics: [event.topicHash, zeroPadValue(toBeHex(version), 32)],
  });
  const [found] = logs;
  if (logs.length !== 1 || !found) {
    throw new ContractsError(
      'RELEASE_EVENT_MISSING',
      `expected one ReleaseLogged for version ${version.toString()} in block ${head.blockNumber.toString()}, found ${logs.length.toString()}`,
    );
  }
  return { ...head, metadataHash: found.topics[2] ?? null };
}
