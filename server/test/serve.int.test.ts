/**
 * `tufchain serve --config FILE` as an operator runs it: bin/tufchain as its own process, one
 * config file, an environment variable overriding one of its settings, then SIGTERM.
 */
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '@tufchain/contracts/dev';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from './support/chain.js';
import { prepareDaemon, type DaemonFiles } from './support/daemon.js';

const bin = fileURLToPath(new URL('../bin/tufchain', import.meta.url));

describe('tufchain serve --config', () => {
  let chain: TestChain;
  let files: DaemonFiles;
  let configPath: string;

  beforeAll(async () => {
    chain = await startTestChain();
    files = await prepareDaemon(chain, 'tufchain.test/serve');
    const e = files.env;
    const rel = (p: string | undefined) => relative(files.dir, p as string);
    await writeFile(join(files.dir, 'passphrase'), `${files.passphrase}\n`);
    configPath = join(files.dir, 'tufchain.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDir: 'data',
        port: Number(new URL(files.baseUrl).port),
        logLevel: 'warn',
        adminTokenFile: 'admin.token',
        chain: {
          rpcUrl: e.TUFCHAIN_RPC_URL,
          contractAddress: e.TUFCHAIN_CONTRACT_ADDRESS,
          confirmations: 1,
          publisherKeyFile: rel(e.TUFCHAIN_PUBLISHER_KEY_FILE),
          fromBlock: chain.deployBlock,
        },
        keys: {
          passphraseFile: 'passphrase',
          root: '1.root.json',
          targets: [rel(e.TUFCHAIN_TARGETS_KEY_FILES)],
          snapshot: [rel(e.TUFCHAIN_SNAPSHOT_KEY_FILES)],
          timestamp: [rel(e.TUFCHAIN_TIMESTAMP_KEY_FILES)],
          firmwarePublicKey: 'firmware.pem',
        },
        vehicles: { caCertificate: 'vehicle-ca.pem' },
        log: { noteKeyFile: 'log-note.key', origin: 'tufchain.test/serve' },
      }),
    );
  });

  afterAll(async () => {
    await chain?.stop();
    if (files?.dir) await rm(files.dir, { recursive: true, force: true });
  });

  const tufchain = (args: string[], env: Record<string, string> = {}) =>
    spawn(bin, args, {
      cwd: files.dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('--check says what the file turns on, and a bad file is refused with CONFIG_INVALID', async () => {
    const check = tufchain(['serve', '--config', configPath, '--check', '--json']);
    let out = '';
    check.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((r) => check.once('exit', r))).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      ok: true,
      features: { transparencyLog: true, anchoring: false, monitor: false },
    });

    await writeFile(join(files.dir, 'bad.json'), JSON.stringify({ dataDir: 'data', prot: 1 }));
    const bad = tufchain(['serve', '--config', join(files.dir, 'bad.json')]);
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => bad.once('exit', r))).not.toBe(0);
    expect(err).toMatch(/CONFIG_INVALID/);
  });

  it('runs the daemon from the file, with a variable overriding its port, until SIGTERM', async () => {
    const port = await findFreePort();
    const daemon = tufchain(['serve', '--config', configPath], { TUFCHAIN_PORT: String(port) });
    let err = '';
    daemon.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => daemon.once('exit', r));
    try {
      await expect
        .poll(
          () =>
            fetch(`http://127.0.0.1:${port}/readyz`).then(
              (r) => r.status,
              () => (daemon.exitCode === null ? 0 : `exited: ${err}`),
            ),
          { timeout: 30_000, interval: 200 },
        )
        .toBe(200);
      const root = await fetch(`http://127.0.0.1:${port}/metadata/1.root.json`);
      expect(root.status).toBe(200);
      // The file's own port stays free: the variable won.
      await expect(fetch(`${files.baseUrl}/readyz`)).rejects.toThrow();
    } finally {
      daemon.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
