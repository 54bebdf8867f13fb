import { createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseExpires, parsePositiveInt, type CliContext } from './context.js';
import { ApiError, CliError, describeError } from './error.js';
import { runCli } from './run.js';

function capture(env: CliContext['env'] = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env,
    io: {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      stderrRaw: (t) => err.push(t),
      stderrIsTty: false,
    },
    fetch: () =>
      Promise.reject(
        Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
      ),
  };
  return { ctx, out, err };
}

describe('describeError', () => {
  it.each([
    { error: new CliError('PASSPHRASE_REQUIRED', 'x'), code: 'PASSPHRASE_REQUIRED', exitCode: 2 },
    { error: new CliError('SERVER_UNREACHABLE', 'x'), code: 'SERVER_UNREACHABLE', exitCode: 3 },
    { error: new CliError('THRESHOLD_NOT_MET', 'x'), code: 'THRESHOLD_NOT_MET', exitCode: 1 },
    {
      error: new ApiError('TARGET_ALREADY_RELEASED', 409, 'x'),
      code: 'TARGET_ALREADY_RELEASED',
      exitCode: 1,
    },
    {
      error: Object.assign(new Error('x'), { code: 'WRONG_PASSPHRASE' }),
      code: 'WRONG_PASSPHRASE',
      exitCode: 1,
    },
    {
      error: Object.assign(new Error('x'), { code: 'ENOENT' }),
      code: 'FILE_NOT_FOUND',
      exitCode: 3,
    },
    { error: new Error('boom'), code: 'INTERNAL', exitCode: 1 },
  ])('maps $code to exit $exitCode', ({ error, code, exitCode }) => {
    expect(describeError(error)).toMatchObject({ code, exitCode });
  });
});

describe('parseExpires', () => {
  it('reads durations relative to now and rejects anything else with INVALID_ARGUMENT', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(parseExpires('365d', now).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(parseExpires('2027-06-30', now).toISOString()).toBe('2027-06-30T00:00:00.000Z');
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          const d = parseExpires(s, now);
          return !Number.isNaN(d.getTime());
        } catch (error) {
          return (error as CliError).code === 'INVALID_ARGUMENT';
        }
      }),
    );
  });
});

describe('parsePositiveInt', () => {
  it('accepts only canonical positive integers', () => {
    expect(parsePositiveInt('42', 'n')).toBe(42);
    for (const bad of ['0', '-1', '1.5', '01', '1e3', '', ' 1', '99999999999999999'])
      expect(() => parsePositiveInt(bad, 'n')).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
  });
});

describe('runCli', () => {
  it('prints one JSON error document and exits 3 when the server is unreachable', async () => {
    const { ctx, out, err } = capture({ server: 'http://127.0.0.1:9', token: 't' });
    expect(await runCli(['status', '--json'], ctx)).toBe(3);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ error: { code: 'SERVER_UNREACHABLE' } });
    expect(err.join('\n')).toContain('ECONNREFUSED');
  });

  it('never prints the passphrase, even when the key file is missing', async () => {
    const { ctx, out, err } = capture({ keyPassphrase: 'sup3r-secret-passphrase' });
    const code = await runCli(['keys', 'show', '/nonexistent/key.pem', '--json'], ctx);
    expect(code).toBe(3);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ error: { code: 'FILE_NOT_FOUND' } });
    expect(out.join('') + err.join('')).not.toContain('sup3r-secret-passphrase');
  });

  it('asks twice on the terminal for a new key passphrase and refuses two different answers', async () => {
    const { ctx, out } = capture();
    const answers = ['first passphrase', 'second passphrase'];
    ctx.promptSecret = () => Promise.resolve(answers.shift() ?? '');
    const code = await runCli(
      ['keys', 'generate', '--type', 'ed25519', '--out', '/nonexistent-dir/k.key', '--json'],
      ctx,
    );
    expect(code).toBe(2);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ error: { code: 'PASSPHRASE_MISMATCH' } });
    expect(answers).toEqual([]);
  });

  it('gives up with TIMEOUT (exit 3) on a server that accepts but never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const { ctx, out } = capture({ server: `http://127.0.0.1:${port}`, token: 't' });
      ctx.fetch = globalThis.fetch;
      const code = await runCli(['status', '--timeout', '1', '--json'], ctx);
      expect(code).toBe(3);
      expect(JSON.parse(out.join('\n'))).toMatchObject({ error: { code: 'TIMEOUT' } });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
