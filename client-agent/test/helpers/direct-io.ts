import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Whether the file system under `dir` opens files with O_DIRECT (ext4 and xfs do; tmpfs does not),
 * found out on its own rather than through the code under test.
 */
export async function directIoAvailable(dir: string): Promise<boolean> {
  const probe = join(dir, `.o_direct-probe-${process.pid}`);
  try {
    const fh = await open(probe, constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT, 0o600);
    await fh.close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true });
  }
}
