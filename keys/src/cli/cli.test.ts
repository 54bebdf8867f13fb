import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { createSecp256k1FileSigner } from '../secp256k1-signer.js';
import { runCli } from './cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

function io(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l) },
    out,
    err,
  };
}

async function keygen(name: string, type: string, pass: string): Promise<void> {
  const run = io({ TUFCHAIN_KEY_PASSPHRASE: pass });
  const code = await runCli(
    [
      'keygen',
      '--type',
      type,
      '--out',
      join(dir, `${name}.key`),
      '--public-out',
      join(dir, `${name}.pub.json`),
    ],
    run.io,
  );
  expect(code, run.err.join('\n')).toBe(0);
}

describe('tufchain-keys CLI', () => {
  it('runs a 2-of-3 root ceremony from key generation to a root TUF accepts', async () => {
    await Promise.all([
      keygen('alice', 'ed25519', 'a-pass'),
      keygen('bob', 'ecdsa-p256', 'b-pass'),
      keygen('carol', 'ed25519', 'c-pass'),
      keygen('online', 'ed25519', 'o-pass'),
    ]);
    expect((await stat(join(dir, 'alice.key'))).mode & 0o777).toBe(0o600);
    const file = join(dir, 'ceremony.json');
    const pub = (n: string) => join(dir, `${n}.pub.json`);
    const init = io();
    expect(
      await runCli(
        [
          'ceremony',
          'init',
          '--out',
          file,
          '--threshold',
          '2',
          '--root',
          pub('alice'),
          '--root',
          pub('bob'),
          '--root',
          pub('carol'),
          '--targets',
          pub('online'),
          '--snapshot',
          pub('online'),
          '--timestamp',
          pub('online'),
          '--expires-days',
          '30',
        ],
        init.io,
      ),
    ).toBe(0);
    expect(JSON.parse(init.out[0] ?? '{}')).toMatchObject({ version: 1, complete: false });

    const sign = (who: string, pass: string) => {
      const run = io({ TUFCHAIN_KEY_PASSPHRASE: pass });
      return runCli(
        ['ceremony', 'sign', '--file', file, '--key', join(dir, `${who}.key`)],
        run.io,
      ).then((code) => ({ code, ...run }));
    };
    expect((await sign('bob', 'b-pass')).code).toBe(0);

    const early = io();
    expect(
      await runCli(
        ['ceremony', 'finalize', '--file', file, '--out', join(dir, '1.root.json')],
        early.io,
      ),
    ).toBe(1);
    expect(early.err[0]).toMatch(/^error THRESHOLD_NOT_MET/);

    const wrong = await sign('carol', 'not-carols');
    expect(wrong.code).toBe(1);
    expect(wrong.err[0]).toMatch(/^error WRONG_PASSPHRASE/);
    expect((await sign('carol', 'c-pass')).code).toBe(0);

    const status = io();
    expect(await runCli(['ceremony', 'status', '--file', file], status.io)).toBe(0);
    expect(JSON.parse(status.out[0] ?? '{}')).toMatchObject({ complete: true });

    expect(
      await runCli(
        ['ceremony', 'finalize', '--file', file, '--out', join(dir, '1.root.json')],
        io().io,
      ),
    ).toBe(0);
    const root = Metadata.fromJSON(
      MetadataKind.Root,
      JSON.parse(await readFile(join(dir, '1.root.json'), 'utf8')) as Parameters<
        typeof Metadata.fromJSON
      >[1],
    );
    expect(() => root.verifyDelegate('root', root)).not.toThrow();

    // rotation: drop alice, keep threshold 2 over {bob, carol}
    const rotation = join(dir, 'rotation.json');
    expect(
      await runCli(
        [
          'ceremony',
          'rotate',
          '--previous',
          join(dir, '1.root.json'),
          '--out',
          rotation,
          '--root',
          pub('bob'),
          '--root',
          pub('carol'),
          '--threshold',
          '2',
        ],
        io().io,
      ),
    ).toBe(0);
    for (const [who, pass] of [
      ['bob', 'b-pass'],
      ['carol', 'c-pass'],
    ] as const) {
      const run = io({ TUFCHAIN_KEY_PASSPHRASE: pass });
      expect(
        await runCli(
          ['ceremony', 'sign', '--file', rotation, '--key', join(dir, `${who}.key`)],
          run.io,
        ),
      ).toBe(0);
    }
    expect(
      await runCli(
        ['ceremony', 'finalize', '--file', rotation, '--out', join(dir, '2.root.json')],
        io().io,
      ),
    ).toBe(0);
    const v2 = Metadata.fromJSON(
      MetadataKind.Root,
      JSON.parse(await readFile(join(dir, '2.root.json'), 'utf8')) as Parameters<
        typeof Metadata.fromJSON
      >[1],
    );
    expect(() => root.verifyDelegate('root', v2)).not.toThrow();
  });

  it.each([
    { desc: 'no command', argv: [], wantExit: 2 },
    { desc: 'an unknown command', argv: ['frobnicate'], wantExit: 2 },
    { desc: 'an unknown option', argv: ['ceremony', 'status', '--nope'], wantExit: 2 },
    {
      desc: 'keygen without a passphrase in the environment',
      argv: ['keygen', '--type', 'ed25519', '--out', 'x.key'],
      wantExit: 2,
    },
    {
      desc: 'keygen with an RSA type',
      argv: ['keygen', '--type', 'rsa', '--out', 'x.key'],
      wantExit: 2,
    },
    {
      desc: 'a missing ceremony file',
      argv: ['ceremony', 'status', '--file', '/nonexistent/c.json'],
      wantExit: 1,
    },
  ])('exits $wantExit for $desc', async ({ argv, wantExit }) => {
    const run = io();
    expect(await runCli(argv, run.io)).toBe(wantExit);
    expect(run.err.length).toBeGreaterThan(0);
  });

  describe('keygen --type secp256k1 (chain account keys)', () => {
    it('writes an encrypted key file and prints the account address it signs for', async () => {
      const run = io({ TUFCHAIN_KEY_PASSPHRASE: 'op-pass' });
      const out = join(dir, 'operator.key');
      expect(await runCli(['keygen', '--type', 'secp256k1', '--out', out], run.io)).toBe(0);
      const printed = JSON.parse(run.out[0]!) as { address: string; publicKey: string };
      expect((await stat(out)).mode & 0o777).toBe(0o600);
      const signer = await createSecp256k1FileSigner(out, 'op-pass');
      expect(printed.address).toBe(signer.address);
      expect(printed.publicKey).toBe(`0x${Buffer.from(signer.publicKey).toString('hex')}`);
    });

    it('imports an existing private key from stdin, never from the command line', async () => {
      const run = io({ TUFCHAIN_KEY_PASSPHRASE: 'op-pass' });
      const out = join(dir, 'imported.key');
      const key = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
      const code = await runCli(['keygen', '--type', 'secp256k1', '--import', '--out', out], {
        ...run.io,
        readStdin: () => Promise.resolve(`${key}\n`),
      });
      expect(code, run.err.join('\n')).toBe(0);
      expect(run.out.join('\n')).not.toContain(key.slice(2));
      expect(await readFile(out, 'utf8')).not.toContain(key.slice(2));
      expect((await createSecp256k1FileSigner(out, 'op-pass')).address).toBe(
        '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
      );
    });

    it('exits 1 with INVALID_ARGUMENT when stdin holds no private key', async () => {
      const run = io({ TUFCHAIN_KEY_PASSPHRASE: 'op-pass' });
      const code = await runCli(
        ['keygen', '--type', 'secp256k1', '--import', '--out', join(dir, 'bad.key')],
        { ...run.io, readStdin: () => Promise.resolve('not a key') },
      );
      expect(code).toBe(1);
      expect(run.err.join('\n')).toContain('INVALID_ARGUMENT');
    });
  });
});
