import { EventFragment, Interface, type Result } from 'ethers';
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

const decoders = new Map<string, { topic: string; anonymous: EventFragment }>();

/**
 * Decodes a log of event `name` (INVALID_ENTRY when it is another or does not decode). The
 * event's topic hash is computed once: ethers' parseLog hashes the signature of every event it
 * compares (keccak in JavaScript, 1-3 ms each on the agent's interpreter-only V8: the chain
 * checks of a vehicle spent ~0.2 s of CPU per ECU in it). The topic is checked here, and the rest
 * is decoded with an anonymous copy of the event, which takes the topics as given.
 */
function decodeEvent(name: string, log: { topics: readonly string[]; data: string }): Result {
  let d = decoders.get(name);
  if (!d) {
    const event = tufchainLogInterface.getEvent(name);
    if (!event) throw new TransparencyError('UNSUPPORTED_BY_CONTRACT', `ABI has no ${name} event`);
    const json = JSON.parse(event.format('json')) as Record<string, unknown>;
    d = { topic: event.topicHash, anonymous: EventFragment.from({ ...json, anonymous: true }) };
    decoders.set(name, d);
  }
  if (log.topics[0]?.toLowerCase() !== d.topic) {
    throw new TransparencyError('INVALID_ENTRY', `not a ${name} log`);
  }
  try {
    return tufchainLogInterface.decodeEventLog(d.anonymous, log.data, log.topics.slice(1));
  } catch (err) {
    throw new TransparencyError('INVALID_ENTRY', `undecodable ${name} log`, { cause: err });
  }
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
  const args = decodeEvent('ReleaseLogged', log);
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
  const args = decodeEvent('CheckpointAnchored', log);
  return {
    size: toNumber(args.getValue('size')),
    rootHash: String(args.getValue('root')).toLowerCase(),
    operator: String(args.getValue('operator')),
    previousSize: toNumber(args.getValue('previousSize')),
  };
}
