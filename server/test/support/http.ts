import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Updater } from 'tuf-js';

/** A fresh tuf-js client that trusts `rootBytes` (1.root.json) and talks to `baseUrl`. */
export async function createTufClient(
  baseUrl: string,
  rootBytes: Uint8Array,
): Promise<{ updater: Updater; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-client-'));
  await writeFile(join(dir, 'root.json'), rootBytes);
  return { updater: reopenTufClient(baseUrl, dir), dir };
}

/** A new Updater over a client's persisted metadata (tuf-js Updaters are single-use, like a vehicle's boot). */
export function reopenTufClient(baseUrl: string, dir: string): Updater {
  return new Updater({
    metadataDir: dir,
    metadataBaseUrl: `${baseUrl}/metadata`,
    targetBaseUrl: `${baseUrl}/targets`,
    targetDir: dir,
    config: { fetchRetries: 0 },
  });
}
