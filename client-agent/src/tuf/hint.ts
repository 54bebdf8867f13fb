import type { Dispatcher } from 'undici';
import { request } from '../util/undici.js';
import { z } from 'zod';
import type { Config } from '../config.js';
import { AgentError } from '../error.js';

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
  cfg: Pick<Config, 'fetchTimeoutMs' | 'userAgent'>,
): Promise<string | undefined> {
  const url = `${serverUrl.replace(/\/+$/, '')}/api/v1/hardware/${encodeURIComponent(hardwareId)}/latest`;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      dispatcher,
      headers: { 'user-agent': cfg.userAgent, accept: 'application/json' },
      headersTimeout: cfg.fetchTimeoutMs,
      bodyTimeout: cfg.fetchTimeoutMs,
    });
  } catch (err) {
    throw new AgentError('DOWNLOAD_FAILED', `GET ${url} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (res.statusCode === 404) {
    await res.body.dump();
    return undefined;
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new AgentError('DOWNLOAD_HTTP', `GET ${url} answered ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_HINT_BYTES) {
      res.body.destroy();
      throw new AgentError('ENDLESS_DATA', `the firmware hint exceeds ${MAX_HINT_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  let parsed: z.infer<typeof hintSchema>;
  try {
    parsed = hintSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  } catch (err) {
    throw new AgentError('NO_TARGET_FOR_HARDWARE', 'the firmware hint is malformed', {
      cause: err,
    });
  }
  return parsed.name;
}
