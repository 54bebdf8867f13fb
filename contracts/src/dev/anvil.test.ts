// startAnvil's start failures, against stand-in binaries (shell scripts) that fail the way anvil
// can: a missing binary, a taken port, an early exit, a node that never answers. The real anvil
// is started in test/anvil.int.test.ts.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractsError } from '../error.js';
import { startAnvil } from './anvil.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startAnvil', () => {
  let dir: string;
  const script = async (name: string, body: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-anvil-unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: {
    desc: string;
    binary: () => Promise<string>;
    port?: number;
    wantCode: string;
  }[] = [
    {
      desc: 'the binary does not exist',
      binary: () => Promise.resolve(join(dir, 'no-such-anvil')),
      wantCode: 'ANVIL_NOT_FOUND',
    },
    {
      desc: 'the fixed port is taken',
      binary: () =>
        script('port-taken', 'echo "Error: Address already in use (os error 98)" >&2\nexit 1'),
      port: 1,
      wantCode: 'ANVIL_PORT_IN_USE',
    },
    {
      desc: 'every free port it probed was taken by the time anvil bound it',
      binary: () =>
        script('always-taken', 'echo "Error: Address already in use (os error 98)" >&2\nexit 1'),
      wantCode: 'ANVIL_PORT_IN_USE',
    },
    {
      desc: 'it exits before answering',
      binary: () => script('exits', 'echo "error: invalid hardfork" >&2\nexit 2'),
      wantCode: 'ANVIL_EXITED',
    },
  ];

  for (const c of cases) {
    describe(`when ${c.desc}`, () => {
      it(`throws ${c.wantCode}`, async () => {
        const err = await startAnvil({
          binaryPath: await c.binary(),
          ...(c.port === undefined ? {} : { port: c.port }),
          startTimeoutMs: 10_000,
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ContractsError);
        expect((err as ContractsError).code).toBe(c.wantCode);
      });
    });
  }

  describe('when it runs but never answers within the deadline', () => {
    it('throws ANVIL_START_TIMEOUT and leaves no process behind', async () => {
      const pidFile = join(dir, 'silent.pid');
      const binary = await script('silent', `echo $$ > '${pidFile}'\nexec sleep 30`);
      const err = await startAnvil({ binaryPath: binary, startTimeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ContractsError);
      expect((err as ContractsError).code).toBe('ANVIL_START_TIMEOUT');
      const pid = Number((await readFile(pidFile, 'utf8')).trim());
      expect(pid).toBeGreaterThan(0);
      expect(isAlive(pid)).toBe(false);
    });
  });
});
