import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const unitFile = fileURLToPath(new URL('../deploy/tufchain-server.service', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const hasSystemdAnalyze = existsSync(SYSTEMD_ANALYZE);
if (!hasSystemdAnalyze) {
  console.warn(`deploy-unit.int.test.ts: skipped, ${SYSTEMD_ANALYZE} is missing`);
}

function run(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!hasSystemdAnalyze)(
  `deploy/tufchain-server.service (checked by ${SYSTEMD_ANALYZE})`,
  () => {
    let dir: string;
    let unit: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tufchain-unit-'));
      // As installed: the repository at /opt/tufchain, here this checkout.
      const text = await readFile(unitFile, 'utf8');
      expect(text).toContain('/opt/tufchain/');
      unit = join(dir, 'tufchain-server.service');
      await writeFile(unit, text.replaceAll('/opt/tufchain', repoRoot));
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('passes systemd-analyze verify', async () => {
      const r = await run(SYSTEMD_ANALYZE, ['verify', unit]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    });

    it('runs the repository’s pinned Node 24', async () => {
      const execStart = /^ExecStart=(\S+)/m.exec(await readFile(unit, 'utf8'))?.[1];
      expect(execStart).toBe(join(repoRoot, 'node_modules/node/bin/node'));
      expect((await run(execStart!, ['--version'])).stdout).toMatch(/^v24\./);
    });

    it('is hardened: systemd-analyze security rates its exposure 2.0 or lower', async () => {
      const r = await run(SYSTEMD_ANALYZE, ['security', '--offline=true', unit]);
      const level = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout)?.[1];
      expect(level, r.stdout + r.stderr).toBeDefined();
      expect(Number(level)).toBeLessThanOrEqual(2);
      for (const setting of ['NoNewPrivileges=', 'ProtectSystem=', 'PrivateTmp=']) {
        expect(r.stdout).toMatch(new RegExp(`✓ ${setting}`));
      }
    });
  },
);
