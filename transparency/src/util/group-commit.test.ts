import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

describe('GroupCommit', () => {
  it('writes what arrives during a write as the next batch, answering each caller its own result', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const group = new GroupCommit<number, number>(async (batch) => {
      batches.push([...batch]);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return batch.map((n) => n * 10);
    });
    const first = group.submit(1);
    const rest = [group.submit(2), group.submit(3), group.submit(4)];
    release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('rejects every caller of a failed batch, and only those', async () => {
    let calls = 0;
    const group = new GroupCommit<string, string>(async (batch) => {
      calls += 1;
      await Promise.resolve();
      if (calls === 1) throw new Error('disk full');
      return batch;
    });
    const failed = group.submit('a');
    const later = group.submit('b');
    await expect(failed).rejects.toThrow('disk full');
    await expect(later).resolves.toBe('b');
  });

  it('splits a long queue into batches of at most maxBatch', async () => {
    const sizes: number[] = [];
    const group = new GroupCommit<number, number>(async (batch) => {
      sizes.push(batch.length);
      await Promise.resolve();
      return batch;
    }, 2);
    await Promise.all([1, 2, 3, 4, 5].map((n) => group.submit(n)));
    expect(sizes).toEqual([1, 2, 2]);
  });

  it('refuses a write that answers the wrong number of results', async () => {
    const group = new GroupCommit<number, number>(() => Promise.resolve([]));
    await expect(group.submit(1)).rejects.toThrow('0 results for 1 items');
  });
});
