import { TransparencyLog } from '@tufchain/transparency';
import { DIRECTOR_LOG_PROMISE_MEDIA_TYPE } from '@tufchain/transparency/wire';
import { ServerError } from '../error.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { inclusionPromise } from '../log/promise.js';

/** `GET /director/log-promise?version=N` (UPTANE.md): a proof bundle without its chain anchor. */
export interface DirectorLogPromise {
  mediaType: typeof DIRECTOR_LOG_PROMISE_MEDIA_TYPE;
  entry: { index: number; data: string };
  inclusionProof: { treeSize: number; hashes: string[] };
  checkpoint: string;
}

/**
 * The promise for log entry `index`: its leaf input, an RFC 9162 inclusion proof and the log's
 * signed checkpoint of the same tree size.
 */
export async function buildDirectorLogPromise(
  sink: TransparencyLogSink | undefined,
  index: number,
): Promise<DirectorLogPromise> {
  const log = (sink as { log?: unknown } | undefined)?.log;
  if (!sink || !(log instanceof TransparencyLog)) {
    throw new ServerError('LOG_NOT_CONFIGURED', 'this server keeps no transparency log');
  }
  const promise = await inclusionPromise(sink, index);
  if (!promise) throw new ServerError('LOG_NOT_CONFIGURED', 'the log signs no promises');
  return {
    mediaType: DIRECTOR_LOG_PROMISE_MEDIA_TYPE,
    entry: { index, data: Buffer.from((await log.entry(index)).data).toString('base64') },
    inclusionProof: {
      treeSize: promise.treeSize,
      hashes: (await log.inclusionProof(index, promise.treeSize)).map((h) =>
        Buffer.from(h).toString('base64'),
      ),
    },
    checkpoint: promise.checkpoint,
  };
}
