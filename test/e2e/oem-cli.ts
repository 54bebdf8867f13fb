import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const launcher = fileURLToPath(new URL('../../server/bin/tufchain', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The real `tufchain` executable (server/bin/tufchain) as a process in `cwd`, with only PATH,
 * HOME (= cwd) and `env` in its environment. A non-zero exit is an answer (its code), not an error.
 */
export function runTufchain(
  cwd: string,
  args: string[],
  env: Record<string, string>,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      launcher,
      args,
      {
        cwd,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...env },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`tufchain ${args.join(' ')}: ${error.message}`, { cause: error }));
          return;
        }
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

/** `bytes` (a multiple of 32) of a sha256 chain seeded by the version: distinct per version. */
export function chainedFirmware(version: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(`gateway firmware ${version}`).digest();
  for (let off = 0; off < out.length; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}
