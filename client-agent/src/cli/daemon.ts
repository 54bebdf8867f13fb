import { isAgentError } from '../error.js';

export interface PollLoopOptions<T> {
  cycle: () => Promise<T>;
  /** Milliseconds to wait before the next cycle. */
  nextDelayMs: () => number;
  onResult: (result: T) => void;
  onError: (err: unknown) => void;
  signal: AbortSignal;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs update cycles until the signal aborts: a cycle, then a jittered wait. A failed cycle is
 * reported and the loop goes on (the next poll may find a fixed release or a reachable server).
 */
export async function runPollLoop<T>(opts: PollLoopOptions<T>): Promise<number> {
  const sleep = opts.sleep ?? abortableSleep;
  let cycles = 0;
  while (!opts.signal.aborted) {
    try {
      opts.onResult(await opts.cycle());
    } catch (err) {
      opts.onError(err);
      if (isAgentError(err, 'CONFIG_INVALID')) throw err;
    }
    cycles += 1;
    if (opts.signal.aborted) break;
    await sleep(opts.nextDelayMs(), opts.signal);
  }
  return cycles;
}
