import { describe, expect, it } from 'vitest';
import { AgentError } from '../error.js';
import { runPollLoop } from './daemon.js';

describe('runPollLoop', () => {
  describe('when a cycle fails', () => {
    it('reports the error and keeps polling until aborted, waiting the jittered delay between cycles', async () => {
      const controller = new AbortController();
      const delays: number[] = [];
      const results: string[] = [];
      const errors: unknown[] = [];
      let n = 0;
      const cycles = await runPollLoop({
        cycle: () => {
          n += 1;
          if (n === 2) return Promise.reject(new AgentError('RPC_UNAVAILABLE', 'down'));
          if (n === 4) controller.abort();
          return Promise.resolve(`cycle ${n}`);
        },
        nextDelayMs: () => 1000 + n,
        onResult: (r) => results.push(r),
        onError: (e) => errors.push(e),
        signal: controller.signal,
        sleep: (ms) => {
          delays.push(ms);
          return Promise.resolve();
        },
      });
      expect(cycles).toBe(4);
      expect(results).toEqual(['cycle 1', 'cycle 3', 'cycle 4']);
      expect(errors).toHaveLength(1);
      expect(delays).toEqual([1001, 1002, 1003]);
    });
  });

  describe('when the settings are invalid', () => {
    it('stops with CONFIG_INVALID', async () => {
      await expect(
        runPollLoop({
          cycle: () => Promise.reject(new AgentError('CONFIG_INVALID', 'bad')),
          nextDelayMs: () => 1,
          onResult: () => undefined,
          onError: () => undefined,
          signal: new AbortController().signal,
        }),
      ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    });
  });
});
