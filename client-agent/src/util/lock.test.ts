import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireStateLock } from './lock.js';

describe('acquireStateLock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('when a live process holds the lock', () => {
    it('throws AGENT_BUSY until it is released', async () => {
      await writeFile(join(dir, 'agent.lock'), String(process.ppid));
      await expect(acquireStateLock(dir)).rejects.toMatchObject({ code: 'AGENT_BUSY' });
      await rm(join(dir, 'agent.lock'));
      const unlock = await acquireStateLock(dir);
      await unlock();
    });
  });

  describe('when the holder died', () => {
    it('takes the lock over', async () => {
      await writeFile(join(dir, 'agent.lock'), '2147483646');
      const unlock = await acquireStateLock(dir);
      await unlock();
    });
  });
});
