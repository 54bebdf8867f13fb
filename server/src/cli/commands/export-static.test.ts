import { describe, expect, it } from 'vitest';
import type { CliContext } from '../context.js';
import { EXIT } from '../error.js';
import { runCli } from '../run.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env: {},
    io: {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      stderrRaw: (t) => err.push(t),
      stderrIsTty: false,
    },
    fetch: () => Promise.reject(new Error('no request is expected')),
  };
  const code = await runCli(argv, ctx);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const CONTRACT = `0x${'1'.repeat(40)}`;

describe('tufchain export-static (arguments)', () => {
  it('prints its usage with --help and exits 0', async () => {
    const r = await run(['export-static', '--help']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toContain('Usage: tufchain export-static [options] <dir>');
    expect(r.out).toContain('--rpc <url>');
  });

  it.each([
    {
      desc: 'without DIR',
      argv: ['export-static', '--server', 'http://127.0.0.1:1'],
      wantCode: 'USAGE_ERROR',
    },
    {
      desc: 'without a server URL',
      argv: ['export-static', 'out', '--rpc', 'http://127.0.0.1:2', '--contract', CONTRACT],
      wantCode: 'SERVER_URL_REQUIRED',
    },
    {
      desc: 'without --rpc (the chain check is not optional)',
      argv: ['export-static', 'out', '--server', 'http://127.0.0.1:1', '--contract', CONTRACT],
      wantCode: 'USAGE_ERROR',
    },
    {
      desc: 'without --contract',
      argv: [
        'export-static',
        'out',
        '--server',
        'http://127.0.0.1:1',
        '--rpc',
        'http://127.0.0.1:2',
      ],
      wantCode: 'USAGE_ERROR',
    },
  ])('refuses $desc with $wantCode before any request', async ({ argv, wantCode }) => {
    const r = await run([...argv, '--json']);
    expect(r.code).toBe(EXIT.USAGE);
    expect((JSON.parse(r.out) as { error: { code: string } }).error.code).toBe(wantCode);
  });
});
