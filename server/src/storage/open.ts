import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBlobStore, type BlobStore } from './blob-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { RepositoryStore } from './store.js';

export interface OpenedRepository {
  store: RepositoryStore;
  blobs: BlobStore;
  close(): Promise<void>;
}

/** Opens (creating if needed) `<dataDir>/tufchain.sqlite` and `<dataDir>/blobs/`. */
export async function openRepository(opts: { dataDir: string }): Promise<OpenedRepository> {
  await mkdir(opts.dataDir, { recursive: true });
  const store = new SqliteStore(join(opts.dataDir, 'tufchain.sqlite'));
  const blobs = await FileBlobStore.open(join(opts.dataDir, 'blobs'));
  return { store, blobs, close: () => store.close() };
}
