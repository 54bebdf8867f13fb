import { Interface, type EventFragment, type LogDescription } from 'ethers';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import { TransparencyError } from '../error.js';

export const tufchainLogInterface = new Interface(TUFCHAIN_LOG_ABI as never);

export function releaseLoggedEvent(): EventFragment {
  const event = tufchainLogInterface.getEvent('ReleaseLogged');
  if (!event)
    throw new TransparencyError('UNSUPPORTED_BY_CONTRACT', 'ABI has no ReleaseLogged event');
  return event;
}

/** Topics that select ReleaseLogged events, optionally for one metadata hash. */
export function releaseLoggedTopics(metadataHash?: string): (string | null)[] {
  const event = releaseLoggedEvent();
  if (metadataHash === undefined) return [event.topicHash];
  const values = event.inputs
    .filter((i) => i.indexed)
    .map((i) => (i.name === 'metadataHash' ? metadataHash : null));
  if (!values.includes(metadataHash)) {
    throw new TransparencyError(
      'UNSUPPORTED_BY_CONTRACT',
      'ReleaseLogged.metadataHash is not indexed',
    );
  }
  return tufchainLogInterface.encodeFilterTopics(event, values) as (string | null)[];
}

export interface DecodedRelease {
  metadataVersion: number;
  metadataHash: string;
  publisher: string;
  firmware: { digest: string; hardwareIdHash: string; version: number }[];
}

function toNumber(v: unknown): number {
  const n = typeof v === 'bigint' ? v : BigInt(v as string | number);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TransparencyError('INVALID_ENTRY', 'value exceeds the safe integer range');
  }
  return Number(n);
}

export function decodeReleaseLogged(log: {
  topics: readonly string[];
  data: string;
}): DecodedRelease {
  let parsed: LogDescription | null;
  try {
    parsed = tufchainLogInterface.parseLog({ topics: [...log.topics], data: log.data });
  } catch (err) {
    throw new TransparencyError('INVALID_ENTRY', 'undecodable ReleaseLogged log', { cause: err });
  }
  if (!parsed || parsed.name !== 'ReleaseLogged') {
    throw new TransparencyError('INVALID_ENTRY', 'not a ReleaseLogged log');
  }
  const args = parsed.args;
  const firmwareRaw = (args.getValue('firmware') ?? []) as readonly {
    digest: string;
    hardwareId: string;
    version: bigint;
  }[];
  return {
    metadataVersion: toNumber(args.getValue('metadataVersion')),
    metadataHash: String(args.getValue('metadataHash')).toLowerCase(),
    publisher: String(args.getValue('publisher')),
    firmware: firmwareRaw.map((f) => ({
      digest: String(f.digest).toLowerCase(),
      hardwareIdHash: String(f.hardwareId).toLowerCase(),
      version: toNumber(f.version),
    })),
  };
}

export interface DecodedAnchor {
  size: number;
  rootHash: string;
  operator: string;
  previousSize: number;
}

/** Topics that select CheckpointAnchored events, optionally for one tree size. */
export function checkpointAnchoredTopics(size?: number): (string | null)[] {
  const event = tufchainLogInterface.getEvent('CheckpointAnchored');
  if (!event)
    throw new TransparencyError('UNSUPPORTED_BY_CONTRACT', 'ABI has no CheckpointAnchored event');
  if (size === undefined) return [event.topicHash];
  return tufchainLogInterface.encodeFilterTopics(event, [size]) as (string | null)[];
}

export function decodeCheckpointAnchored(log: {
  topics: readonly string[];
  data: string;
}): DecodedAnchor {
  let parsed: LogDescription | null;
  try {
    parsed = tufchainLogInterface.parseLog({ topics: [...log.topics], data: log.data });
  } catch (err) {
    throw new TransparencyError('INVALID_ENTRY', 'undecodable CheckpointAnchored log', {
      cause: err,
    });
  }
  if (!parsed || parsed.name !== 'CheckpointAnchored') {
    throw new TransparencyError('INVALID_ENTRY', 'not a CheckpointAnchored log');
  }
  const args = parsed.args;
  return {
    size: toNumber(args.getValue('size')),
    rootHash: String(args.getValue('root')).toLowerCase(),
    operator: String(args.getValue('operator')),
    previousSize: toNumber(args.getValue('previousSize')),
  };
}
