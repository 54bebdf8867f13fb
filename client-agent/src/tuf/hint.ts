import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';
import {
  answerLimits,
  fetchBounded,
  toDownloadError,
  type BoundedAnswer,
} from '../util/retrieval.js';

const MAX_HINT_BYTES = 4096;
const hintSchema = z.object({
  name: z
    .string()
    .regex(/^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,63}\/)?[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/),
});

/**
 * Asks the server which firmware target is newest for a hardware ID
 * (`GET /api/v1/hardware/{id}/latest`). With hashed bins a vehicle cannot list every target, so it
 * needs a name to look up; the name is only a hint: tuf-js resolves it through the signed
 * delegations, and the chain gate checks what it resolves to. Undefined when the server has none.
 */
export async function fetchFirmwareHint(
  dispatcher: Dispatcher,
  serverUrl: string,
  hardwareId: string,
  cfg: Pick<
    Config,
    'userAgent' | 'minDownloadBytesPerSecond' | 'downloadGraceMs' | 'metadataDeadlineMs'
  >,
): Promise<string | undefined> {
  const url = `${serverUrl.replace(/\/+$/, '')}/api/v1/hardware/${encodeURIComponent(hardwareId)}/latest`;
  let res: BoundedAnswer;
  try {
    res = await fetchBounded(url, {
      dispatcher,
      headers: { 'user-agent': cfg.userAgent, accept: 'application/json' },
      maxBytes: MAX_HINT_BYTES,
      limits: answerLimits(cfg),
    });
  } catch (err) {
    throw toDownloadError(err, `GET ${url}`);
  }
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) {
    throw new AgentError('DOWNLOAD_HTTP', `GET ${url} answered ${res.statusCode}`);
  }
  let parsed: z.infer<typeof hintSchema>;
  try {
    parsed = hintSchema.parse(JSON.parse(res.body.toString('utf8')));
  } catch (err) {
    throw new AgentError('NO_TARGET_FOR_HARDWARE', 'the firmware hint is malformed', {
      cause: err,
    });
  }
  return parsed.name;
}
