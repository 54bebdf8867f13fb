import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurable } from '../util/durable.js';

/** A copy of a trusted metadata directory that tuf-js refreshes into, promoted once accepted. */
export interface StagedMetadata {
  /** The directory to hand tuf-js. */
  readonly dir: string;
  /** Makes what tuf-js trusts in `dir` the trusted metadata, durably, file by file. */
  promote(): Promise<void>;
}

/**
 * tuf-js writes each metadata file to its directory as soon as its signatures verify, before the
 * agent's own checks (the chain's log, the log's promise for Director targets) have run. Had it
 * the trusted directory, metadata those checks refuse would stay trusted: one version N signed
 * with stolen online keys but never logged would make every later logged version below N a
 * rollback, freezing the vehicle until the keys rotate. So tuf-js refreshes a copy
 * (`<live>.staging`, rebuilt each cycle), and only accepted metadata is copied back.
 *
 * A power cut during promote() leaves some files new and some old; tuf-js then finds the old
 * ones inconsistent with the new timestamp or snapshot and fetches them again.
 */
export async function stageMetadata(live: string): Promise<StagedMetadata> {
  const dir = `${live}.staging`;
  await mkdir(live, { recursive: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const entry of await readdir(live, { withFileTypes: true })) {
    if (entry.isFile()) await copyFile(join(live, entry.name), join(dir, entry.name));
  }
  return {
    dir,
    async promote() {
      const staged = (await readdir(dir, { withFileTypes: true }))
        .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
        .map((e) => e.name);
      // The root first: every other file is checked against it.
      staged.sort((a, b) => Number(b === 'root.json') - Number(a === 'root.json'));
      for (const name of staged) {
        const bytes = await readFile(join(dir, name));
        const current = await readFile(join(live, name)).catch(() => undefined);
        if (!current?.equals(bytes)) await writeFileDurable(join(live, name), bytes);
      }
    },
  };
}
