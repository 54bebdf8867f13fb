import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../error.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One update cycle at a time per state directory (the daemon and a manual run-once must not
 * interleave their journal and slot writes). A lock left by a dead process is taken over.
 */
export async function acquireStateLock(stateDir: string): Promise<() => Promise<void>> {
  const path = join(stateDir, 'agent.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new AgentError('AGENT_BUSY', `another agent (pid ${pid}) holds ${path}`);
      }
      await rm(path, { force: true });
    }
  }
  throw new AgentError('AGENT_BUSY', `cannot take ${path}`);
}
