import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashLeaf, MemoryTree, openLogDatabase, SqliteLogStorage, treeRoot } from '../src/index.js';

const CHILD = fileURLToPath(new URL('./helpers/log-writer-child.ts', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-crash-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the writer child until it has appended for `ms`, then kills it with SIGKILL. */
async function runAndKill(path: string, ms: number): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--conditions=@tufchain/source', '--import', 'tsx', CHILD, path],
    {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
  });
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('SqliteLogStorage under kill -9', () => {
  it('keeps whole batches only, with tree nodes and checkpoints that match the surviving entries', async () => {
    const path = join(dir, 'log.sqlite');
    let previous = 0;
    for (const ms of [300, 600]) {
      await runAndKill(path, ms);
      const db = openLogDatabase(path);
      const storage = new SqliteLogStorage(db);
      const size = await storage.size();
      expect(size % 50).toBe(0);
      expect(size).toBeGreaterThan(previous);
      const mem = new MemoryTree();
      for (const e of await storage.entries(0, size)) {
        expect(Buffer.from(e.leafHash).equals(hashLeaf(e.data))).toBe(true);
        mem.append(e.data);
      }
      expect(Buffer.from(treeRoot(storage, size)).equals(mem.root())).toBe(true);
      for (const cp of await storage.checkpoints()) {
        expect(cp.size).toBeLessThanOrEqual(size);
        expect(Buffer.from(cp.rootHash).equals(mem.root(cp.size))).toBe(true);
      }
      previous = size;
      db.close();
    }
  });
});
