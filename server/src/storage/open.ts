import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SqliteDirectorStore } from '../director/sqlite-store.js';
import type { DirectorStore } from '../director/store.js';
import { FileBlobStore, type BlobStore } from './blob-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { RepositoryStore } from './store.js';

export interface OpenedRepository {
  store: RepositoryStore;
  blobs: BlobStore;
  /** The Uptane Director's tables, in the same database file. */
  director: DirectorStore;
  close(): Promise<void>;
}

/** Opens (creating if needed) `<dataDir>/tufchain.sqlite` and `<dataDir>/blobs/`. */
export async function openRepository(opts: { dataDir: string }): Promise<OpenedRepository> {
  await mkdir(opts.dataDir, { recursive: true });
  const path = join(opts.dataDir, 'tufchain.sqlite');
  const store = new SqliteStore(path);
  const director = new SqliteDirectorStore(path);
  const blobs = await FileBlobStore.open(join(opts.dataDir, 'blobs'));
  return {
    store,
    blobs,
    director,
    close: async () => {
      await director.close();
      await store.close();
    },
  };
}
