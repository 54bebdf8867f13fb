import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createFileSigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  writeEncryptedKeyFile,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import { OfflineBundle } from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initRepositoryFromRoot,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '../src/index.js';
import { runCli } from '../src/cli/run.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository } from './support/database.js';
import { signSuccessReport } from './support/install-report.js';

const launcher = fileURLToPath(new URL('../bin/tufchain', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `tufchain` executable (server/bin/tufchain) as a child process. */
function tufchain(
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      launcher,
      args,
      {
        cwd: opts.cwd,
        // Only what the CLI needs: no TUFCHAIN_* or NODE_OPTIONS leak in from the test runner.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.cwd, ...opts.env },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          // Spawn failure or timeout, not an exit code.
          reject(new Error(`tufchain ${args.join(' ')}: ${error.message}`, { cause: error }));
          return;
        }
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

function parseJson<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

interface ReleaseJson {
  id: number;
  status: string;
  targets: string[];
  metadataVersion: number;
  metadataHash: string;
  chain: { txHash: string; blockNumber: number; blockHash: string } | null;
}

const PASSPHRASE = 'correct horse battery staple';

describe('tufchain command line (real CLI process, real server, real anvil)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let rootKeyFiles: string[];
  let rootFile: string;
  let buildKeyId: string;
  let vehicleCa: VehicleCa;
  let image: Buffer;
  let release: ReleaseJson;
  let env: Record<string, string>;
  const cli = (args: string[], extraEnv: Record<string, string> = {}) =>
    tufchain(args, { cwd: dir, env: { ...env, ...extraEnv } });
  /**
   * runCli, what main.ts runs, in this process with the same environment as `cli`: for cases
   * that only parse and validate the command line. Relative paths would resolve against this
   * process's directory, so such cases name files by absolute path.
   */
  const cliInProcess = async (args: string[]): Promise<CliResult> => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli(args, {
      env: { server: env.TUFCHAIN_SERVER, keyPassphrase: env.TUFCHAIN_KEY_PASSPHRASE },
      io: {
        stdout: (text) => stdout.push(`${text}\n`),
        stderr: (text) => stderr.push(`${text}\n`),
        stderrRaw: (text) => stderr.push(text),
        stderrIsTty: false,
      },
      fetch: globalThis.fetch,
    });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  };
  const chainArgs = () => [
    '--rpc',
    chain.chain.rpcUrl,
    '--contract',
    chain.contractAddress,
    '--from-block',
    String(chain.deployBlock),
  ];

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-cli-'));
    await writeFile(join(dir, 'passphrase'), `${PASSPHRASE}\n`, { mode: 0o600 });

    // The build key is made by the CLI itself; the server must trust its public key.
    const gen = await tufchain(
      ['keys', 'generate', '--type', 'ecdsa-p256', '--out', 'build.key', '--json'],
      { cwd: dir, env: { TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE } },
    );
    expect(gen.code, gen.stderr).toBe(0);
    buildKeyId = parseJson<{ keyId: string }>(gen).keyId;
    const buildPublicPem = await readFile(join(dir, 'build.key.pub'), 'utf8');

    // Root holders' keys as encrypted files; the root ceremony itself runs through the CLI.
    rootKeyFiles = [];
    for (const [i, type] of (['ed25519', 'ecdsa-p256'] as const).entries()) {
      const path = join(dir, `root-${i + 1}.key`);
      await writeEncryptedKeyFile(path, generateKeyPair(type).privateKey, PASSPHRASE);
      await writeFile(`${path}.pub`, await publicPem(path));
      rootKeyFiles.push(path);
    }
    const online = {
      targets: await makeSigner(dir, 'targets'),
      snapshot: await makeSigner(dir, 'snapshot'),
      timestamp: await makeSigner(dir, 'timestamp'),
    };
    const holder = (args: string[]) =>
      tufchain(args, { cwd: dir, env: { TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE } });
    const started = await holder([
      'repo',
      'init',
      '--root-key',
      'root-1.key.pub',
      '--root-key',
      'root-2.key.pub',
      '--threshold',
      '2',
      '--targets-key',
      'targets.key.pub',
      '--snapshot-key',
      'snapshot.key.pub',
      '--timestamp-key',
      'timestamp.key.pub',
      '--out',
      'root-ceremony.json',
      '--json',
    ]);
    expect(started.code, started.stderr).toBe(0);
    for (const key of rootKeyFiles) {
      const signed = await holder(['sign', '--role', 'root', 'root-ceremony.json', '--key', key]);
      expect(signed.code, signed.stderr).toBe(0);
    }
    const finalized = await holder(['repo', 'finalize', 'root-ceremony.json', '--json']);
    expect(finalized.code, finalized.stderr).toBe(0);
    rootFile = join(dir, parseJson<{ rootFile: string }>(finalized).rootFile);

    // The server bootstraps from the ceremony's root: it never sees a root key.
    repo = await openTestRepository({ dataDir: join(dir, 'server') });
    const writer = chain.writer({ confirmations: 1 });
    await initRepositoryFromRoot({
      store: repo.store,
      rootBytes: await readFile(rootFile),
      onlineSigners: online,
      releaseLog: writer,
    });
    vehicleCa = await createVehicleCa({ commonName: 'CLI test vehicle CA' });
    await writeFile(join(dir, 'vehicle-ca.pem'), vehicleCa.certificatePem);
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: buildPublicPem, keyId: buildKeyId },
        vehicleCaPem: vehicleCa.certificatePem,
        config: { resignIntervalMs: 0 },
      },
    });
    const { token } = await createApiToken(repo.store, { name: 'cli', scopes: ['admin'] });
    await writeFile(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    env = { TUFCHAIN_SERVER: server.url, TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE };
  });

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('--help', () => {
    it('exits 0 and prints the usage of the program as a process', async () => {
      const r = await cli(['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: tufchain');
    });

    it('exits 0 and prints the usage of every command', async () => {
      const commands = [
        ['keys', 'generate'],
        ['keys', 'show'],
        ['repo', 'init'],
        ['repo', 'status'],
        ['repo', 'finalize'],
        ['repo', 'targets-v1'],
        ['repo', 'finalize-targets'],
        ['sign'],
        ['targets', 'add'],
        ['publish'],
        ['revoke'],
        ['rotate-root', 'prepare'],
        ['rotate-root', 'upload'],
        ['status'],
        ['audit'],
        ['bundle', 'create'],
        ['export-static'],
        ['token', 'create'],
        ['token', 'list'],
        ['token', 'revoke'],
      ];
      // In process (runCli is what main.ts runs; the test above covers the process): a process
      // per command cost over a minute on a loaded two-core machine.
      const results = await Promise.all(commands.map((c) => cliInProcess([...c, '--help'])));
      for (const [i, r] of results.entries()) {
        expect({ command: commands[i], code: r.code }).toEqual({ command: commands[i], code: 0 });
        expect(r.stdout).toContain(`Usage: tufchain ${commands[i]!.join(' ')}`.trimEnd());
      }
    });
  });

  describe('when the command line is wrong', () => {
    it('exits 2 with a specific code for each kind of usage error', async () => {
      const cases = [
        {
          desc: 'an unknown key type',
          args: ['keys', 'generate', '--type', 'rsa', '--out', 'x.key', '--json'],
          wantCode: 'USAGE_ERROR',
        },
        {
          desc: 'a missing mandatory option',
          args: ['targets', 'add', 'image.bin', '--json'],
          wantCode: 'USAGE_ERROR',
        },
        {
          desc: 'an unknown command',
          args: ['launch-rockets', '--json'],
          wantCode: 'USAGE_ERROR',
        },
        {
          desc: 'publish without a manifest',
          args: ['publish', '--json'],
          wantCode: 'USAGE_ERROR',
        },
        {
          desc: 'a contract that is not an address',
          args: [
            'audit',
            '--rpc',
            'http://127.0.0.1:1',
            '--contract',
            'nope',
            '--root',
            'r.json',
            '--json',
          ],
          wantCode: 'INVALID_ARGUMENT',
        },
        {
          desc: 'a release counter that is not a positive integer',
          args: [
            'targets',
            'add',
            'image.bin',
            '--hardware-id',
            'ecu',
            '--version',
            '1.0.0',
            '--release-counter',
            '-3',
            '--build-key',
            'build.key',
            '--json',
          ],
          wantCode: 'INVALID_ARGUMENT',
        },
      ];
      // In process: parsing and validation only, what main.ts runs; the process's exit code 2 is
      // covered by the SERVER_URL_REQUIRED and TOKEN_REQUIRED cases below.
      const results = await Promise.all(cases.map((c) => cliInProcess(c.args)));
      for (const [i, r] of results.entries()) {
        const { desc, wantCode } = cases[i]!;
        expect({ desc, code: r.code }).toEqual({ desc, code: 2 });
        expect({ desc, code: parseJson<{ error: { code: string } }>(r).error.code }).toEqual({
          desc,
          code: wantCode,
        });
      }
    });

    it('exits 2 with SERVER_URL_REQUIRED when neither --server nor TUFCHAIN_SERVER is set', async () => {
      const r = await tufchain(['status', '--json', '--token-file', 'token'], { cwd: dir });
      expect(r.code).toBe(2);
      expect(parseJson<{ error: { code: string } }>(r).error.code).toBe('SERVER_URL_REQUIRED');
    });

    it('exits 2 with TOKEN_REQUIRED when no API token is given', async () => {
      const r = await cli(['status', '--json']);
      expect(r.code).toBe(2);
      expect(parseJson<{ error: { code: string } }>(r).error.code).toBe('TOKEN_REQUIRED');
    });

    it('exits 1 with the server code UNAUTHENTICATED for a wrong token', async () => {
      await writeFile(join(dir, 'bad-token'), 'tct_0123456789abcdef_' + 'A'.repeat(43));
      const r = await cli(['status', '--json', '--token-file', 'bad-token']);
      expect(r.code).toBe(1);
      expect(parseJson<{ error: { code: string; status: number } }>(r).error).toMatchObject({
        code: 'UNAUTHENTICATED',
        status: 401,
      });
    });
  });

  describe('keys generate and keys show', () => {
    it('round-trips the key id through the public and the encrypted private key file', async () => {
      const gen = await cli([
        'keys',
        'generate',
        '--type',
        'ed25519',
        '--out',
        'holder.key',
        '--passphrase-file',
        'passphrase',
        '--json',
      ]);
      expect(gen.code, gen.stderr).toBe(0);
      const made = parseJson<{ keyId: string; type: string }>(gen);
      expect(made.type).toBe('ed25519');
      expect(gen.stdout + gen.stderr).not.toContain(PASSPHRASE);
      expect((await stat(join(dir, 'holder.key'))).mode & 0o777).toBe(0o600);

      const [showPublic, showPrivate] = await Promise.all([
        cli(['keys', 'show', 'holder.key.pub', '--json']),
        cli(['keys', 'show', 'holder.key', '--json']),
      ]);
      expect(showPublic.code).toBe(0);
      expect(showPrivate.code).toBe(0);
      expect(parseJson<{ keyId: string }>(showPublic).keyId).toBe(made.keyId);
      expect(parseJson<{ keyId: string }>(showPrivate).keyId).toBe(made.keyId);
    });

    it('exits 1 with WRONG_PASSPHRASE for a wrong passphrase and never overwrites a key', async () => {
      const before = await readFile(join(dir, 'holder.key'));
      const [wrong, again] = await Promise.all([
        cli(['keys', 'show', 'holder.key', '--json'], { TUFCHAIN_KEY_PASSPHRASE: 'not it' }),
        cli(['keys', 'generate', '--type', 'ed25519', '--out', 'holder.key', '--json']),
      ]);
      expect(wrong.code).toBe(1);
      expect(parseJson<{ error: { code: string } }>(wrong).error.code).toBe('WRONG_PASSPHRASE');
      expect(again.code).toBe(1);
      expect(parseJson<{ error: { code: string } }>(again).error.code).toBe('FILE_EXISTS');
      expect(await readFile(join(dir, 'holder.key'))).toEqual(before);
    });
  });

  describe('targets add, publish and status', () => {
    it('streams the image with progress, signs its attestation and stages it in the manifest', async () => {
      image = randomBytes(3 * 1024 * 1024 + 17);
      await writeFile(join(dir, 'gateway-1.0.0.img'), image);
      const r = await cli([
        'targets',
        'add',
        'gateway-1.0.0.img',
        '--hardware-id',
        'acme-gw-rev3',
        '--hardware-id',
        'acme-gw-rev4',
        '--version',
        '1.0.0',
        '--release-counter',
        '1',
        '--build-key',
        'build.key',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const sha256 = createHash('sha256').update(image).digest('hex');
      expect(parseJson<{ target: { sha256: string; length: number } }>(r).target).toMatchObject({
        sha256,
        length: image.length,
      });
      expect(r.stderr).toMatch(/upload gateway-1\.0\.0\.img: 100% 3\.0\/3\.0 MiB/);
      const manifest = JSON.parse(await readFile(join(dir, 'release.json'), 'utf8')) as {
        targets: { name: string; sha256: string; attestation: { dsseEnvelope?: unknown } }[];
      };
      expect(manifest.targets).toHaveLength(1);
      expect(manifest.targets[0]).toMatchObject({ name: 'gateway-1.0.0.img', sha256 });
      expect(manifest.targets[0]?.attestation.dsseEnvelope).toBeDefined();
    });

    it('refuses to stage the same name twice with DUPLICATE_TARGET', async () => {
      const r = await cli([
        'targets',
        'add',
        'gateway-1.0.0.img',
        '--hardware-id',
        'acme-gw-rev3',
        '--version',
        '1.0.0',
        '--release-counter',
        '1',
        '--build-key',
        'build.key',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(r.code).toBe(1);
      expect(parseJson<{ error: { code: string } }>(r).error.code).toBe('DUPLICATE_TARGET');
    });

    it('publishes the manifest: logged on chain in the transaction it reports', async () => {
      const r = await cli(['publish', 'release.json', '--token-file', 'token', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const body = parseJson<{ release: ReleaseJson; replayed: boolean }>(r);
      release = body.release;
      expect(body.replayed).toBe(false);
      expect(release.status).toBe('confirmed');
      expect(release.targets).toEqual(['gateway-1.0.0.img']);
      const receipt = await chain.provider.getTransactionReceipt(release.chain!.txHash);
      expect(receipt?.status).toBe(1);
      expect(receipt?.blockNumber).toBe(release.chain!.blockNumber);
      expect(receipt?.blockHash).toBe(release.chain!.blockHash);
    });

    it('replays instead of publishing twice when the same manifest is published again', async () => {
      const r = await cli(['publish', 'release.json', '--token-file', 'token', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const body = parseJson<{ release: ReleaseJson; replayed: boolean }>(r);
      expect(body.replayed).toBe(true);
      expect(body.release.id).toBe(release.id);
    });

    it('shows the release with its chain transaction and the roles in status --json', async () => {
      const [r, human] = await Promise.all([
        cli(['status', '--token-file', 'token', '--json', ...chainArgs()]),
        cli(['status', '--token-file', 'token']),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const st = parseJson<{
        releases: ReleaseJson[];
        roles: { role: string; version: number; threshold: number; signing: string }[];
      }>(r);
      expect(st.releases.find((x) => x.id === release.id)).toMatchObject({
        status: 'confirmed',
        metadataVersion: release.metadataVersion,
        chain: { txHash: release.chain!.txHash, blockNumber: release.chain!.blockNumber },
        onChain: { verified: true, txHash: release.chain!.txHash },
      });
      expect(st.roles.map((x) => x.role)).toEqual([
        'root',
        'targets',
        'snapshot',
        'timestamp',
        'bins',
        'bins-*',
      ]);
      expect(st.roles[0]).toMatchObject({
        role: 'root',
        version: 1,
        threshold: 2,
        signing: 'offline',
      });
      expect(human.code).toBe(0);
      expect(human.stdout).toContain(release.chain!.txHash);
    });

    describe('when the server misreports a release', () => {
      it.each([
        {
          desc: 'a transaction that is not the one on chain',
          tamper: {
            chain: {
              txHash: `0x${'ab'.repeat(32)}`,
              blockNumber: 1,
              blockHash: `0x${'cd'.repeat(32)}`,
            },
          },
          wantCode: 'CHAIN_REFERENCE_MISMATCH',
        },
        {
          desc: 'a metadata hash that was never logged',
          tamper: { metadataHash: `0x${'ee'.repeat(32)}` },
          wantCode: 'METADATA_NOT_LOGGED',
        },
      ])('status --rpc exits 1 with $wantCode for $desc', async ({ tamper, wantCode }) => {
        const honest = { chain: release.chain, metadataHash: release.metadataHash };
        await repo.store.updateRelease(release.id, tamper);
        try {
          const r = await cli(['status', '--token-file', 'token', '--json', ...chainArgs()]);
          expect(r.code).toBe(1);
          const st = parseJson<{ releases: (ReleaseJson & { onChain?: { code?: string } })[] }>(r);
          expect(st.releases.find((x) => x.id === release.id)?.onChain?.code).toBe(wantCode);
        } finally {
          await repo.store.updateRelease(release.id, honest);
        }
      });
    });
  });

  describe('token create, list and revoke', () => {
    interface TokenJson {
      id: string;
      name: string;
      scopes: string[];
      expiresAt: string | null;
      status: string;
      token?: string;
    }

    it('shows a new secret once, lists tokens without secrets, and revokes one for good', async () => {
      const created = await cli([
        'token',
        'create',
        '--name',
        'line-9',
        '--scope',
        'enroll',
        '--expires',
        '30d',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(created.code, created.stderr).toBe(0);
      const made = parseJson<TokenJson & { token: string }>(created);
      expect(made).toMatchObject({ name: 'line-9', scopes: ['enroll'] });
      expect(made.token).toMatch(new RegExp(`^tct_${made.id}_`));
      expect(Date.parse(made.expiresAt!) - Date.now()).toBeGreaterThan(29 * 86_400_000);

      const toFile = await cli([
        'token',
        'create',
        '--name',
        'ci-2',
        '--scope',
        'publish',
        '--out',
        'ci-2.token',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(toFile.code, toFile.stderr).toBe(0);
      expect(toFile.stdout).not.toContain('tct_');
      expect((await stat(join(dir, 'ci-2.token'))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(dir, 'ci-2.token'), 'utf8')).toMatch(
        /^tct_[0-9a-f]{16}_\S{43}\n$/,
      );

      const listed = await cli(['token', 'list', '--token-file', 'token', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).not.toContain(made.token.slice(-43));
      const tokens = parseJson<{ tokens: TokenJson[] }>(listed).tokens;
      expect(tokens.find((x) => x.id === made.id)).toMatchObject({ status: 'active' });
      expect(tokens.map((x) => x.name)).toEqual(expect.arrayContaining(['cli', 'line-9', 'ci-2']));

      const revoked = await cli(['token', 'revoke', made.id, '--token-file', 'token', '--json']);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(parseJson<{ token: TokenJson }>(revoked).token).toMatchObject({
        id: made.id,
        status: 'revoked',
      });
      const refused = await cli(['token', 'list', '--json'], { TUFCHAIN_TOKEN: made.token });
      expect(refused.code).toBe(1);
      expect(parseJson<{ error: { code: string; status: number } }>(refused).error).toMatchObject({
        code: 'TOKEN_REVOKED',
        status: 401,
      });
      const again = await cli(['token', 'revoke', made.id, '--token-file', 'token', '--json']);
      expect([again.code, parseJson<{ error: { code: string } }>(again).error.code]).toEqual([
        1,
        'TOKEN_ALREADY_REVOKED',
      ]);
    });

    it.each([
      { desc: 'an unknown scope', args: ['create', '--name', 'x', '--scope', 'root'] },
      {
        desc: 'an expiry in the past',
        args: ['create', '--name', 'x', '--scope', 'publish', '--expires', '2001-01-01'],
      },
      { desc: 'a malformed token id', args: ['revoke', 'tct_123'] },
    ])('exits 2 for $desc', async ({ args }) => {
      // In process: the options are refused before any request (the same runCli main.ts runs).
      const r = await cliInProcess([
        'token',
        ...args,
        '--token-file',
        join(dir, 'token'),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(2);
    });
  });

  describe('bundle create', () => {
    it('writes one file with the metadata path to the newest image, the image and its Sigstore bundle', async () => {
      const r = await cli([
        'bundle',
        'create',
        '--hardware-id',
        'acme-gw-rev3',
        '--out',
        'dealer.tar',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(parseJson<{ target: string }>(r).target).toBe('gateway-1.0.0.img');
      const opened = await OfflineBundle.open(join(dir, 'dealer.tar'));
      const paths = Object.keys(opened.manifest.files);
      expect(paths).toContain('/metadata/1.root.json');
      expect(paths).toContain('/metadata/timestamp.json');
      expect(paths.some((p) => /^\/metadata\/\d+\.bins-[0-9a-f]+\.json$/.test(p))).toBe(true);
      const image = paths.find((p) => p.endsWith('.gateway-1.0.0.img'))!;
      const entry = opened.entry(image)!;
      const bytes = (await readFile(join(dir, 'dealer.tar'))).subarray(
        entry.offset,
        entry.offset + entry.size,
      );
      expect(`/targets/${createHash('sha256').update(bytes).digest('hex')}.gateway-1.0.0.img`).toBe(
        image,
      );
      expect(paths.some((p) => p.endsWith('.gateway-1.0.0.img.sigstore.json'))).toBe(true);
    });

    it('exits 2 with INVALID_ARGUMENT for --delta-only without --delta-from', async () => {
      const r = await cli([
        'bundle',
        'create',
        '--hardware-id',
        'acme-gw-rev3',
        '--out',
        'only.tar',
        '--delta-only',
        '--json',
      ]);
      expect(r.code).toBe(2);
      expect(parseJson<{ error: { code: string } }>(r).error.code).toBe('INVALID_ARGUMENT');
    });

    it('exits 1 with NO_TARGET_FOR_HARDWARE for a hardware ID with no firmware', async () => {
      const r = await cli([
        'bundle',
        'create',
        '--hardware-id',
        'no-such-ecu',
        '--out',
        'x.tar',
        '--json',
      ]);
      expect(r.code).toBe(1);
      expect(parseJson<{ error: { code: string } }>(r).error.code).toBe('NO_TARGET_FOR_HARDWARE');
    });
  });

  describe('audit', () => {
    const auditArgs = () => [
      'audit',
      '--rpc',
      chain.chain.rpcUrl,
      '--contract',
      chain.contractAddress,
      '--from-block',
      String(chain.deployBlock),
      '--chain-id',
      String(chain.chain.chainId),
      '--root',
      rootFile,
      '--vehicle-ca',
      'vehicle-ca.pem',
      '--firmware-key',
      'build.key.pub',
      '--json',
    ];

    it('exits 0 with no finding on a clean history and writes the vehicle audit pack', async () => {
      const vehicle = await createVehicleIdentity(vehicleCa, {
        vin: 'WAC9D1234RZ000042',
        ecuSerial: 'GW-0042',
      });
      const digest = createHash('sha256').update(image).digest('hex');
      const bundle = await signSuccessReport({
        chain,
        vehicle,
        hardwareId: 'acme-gw-rev3',
        to: { name: 'gateway-1.0.0.img', version: '1.0.0', releaseCounter: 1, digest },
        metadata: { targetsVersion: release.metadataVersion, targetsHash: release.metadataHash },
        odometerKm: 12_850,
      });
      const posted = await fetch(`${server.url}/api/v1/attestations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bundle),
      });
      expect(posted.status, await posted.clone().text()).toBe(201);

      const r = await cli([...auditArgs(), '--pack-dir', 'packs']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const report = parseJson<{ findings: unknown[]; stats: Record<string, number> }>(r);
      expect(report.findings).toEqual([]);
      // snapshot v1 (bootstrap) and v2 (the release), each logged and verified against root v1.
      expect(report.stats).toMatchObject({
        releasesLogged: 2,
        snapshotVersionsServed: 2,
        snapshotsVerified: 2,
        firmwareTargets: 1,
        installsVerified: 1,
      });
      const packs = await readdir(join(dir, 'packs'));
      expect(packs).toHaveLength(1);
      const pack = JSON.parse(await readFile(join(dir, 'packs', packs[0]!), 'utf8')) as {
        vehicle: { commitment: string };
        installs: { release: { txHash: string } | null }[];
      };
      expect(JSON.stringify(pack)).not.toContain('WAC9D1234RZ000042');
      expect(pack.installs).toHaveLength(1);
      expect(pack.installs[0]?.release?.txHash).toBe(release.chain!.txHash);
    });

    it('revoke re-signs targets without the release, then rotate-root moves to root v2', async () => {
      const revoked = await cli([
        'revoke',
        'gateway-1.0.0.img',
        '--reason',
        'brake regression',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const rel = parseJson<{ release: ReleaseJson & { revocation: { chain: unknown } } }>(
        revoked,
      ).release;
      expect(rel.status).toBe('revoked');
      expect(rel.revocation.chain).not.toBeNull();

      // New root key set: root-1 stays, a new holder replaces root-2; old 2-of-2 and new 2-of-2 must sign.
      const newHolder = await makeSigner(dir, 'root-3');
      await writeFile(join(dir, 'root-3.key.pub'), newHolder.publicKeyPem());
      await writeFile(join(dir, 'root-1.key.pub'), await publicPem(rootKeyFiles[0]!));
      const rotatedOut = (await createFileSigner(rootKeyFiles[1]!, PASSPHRASE)).keyId;
      const prepared = await cli([
        'rotate-root',
        'prepare',
        '--root-key',
        'root-1.key.pub',
        '--root-key',
        'root-3.key.pub',
        '--threshold',
        '2',
        '--expires',
        '200d',
        '--out',
        'rotation.json',
        '--json',
      ]);
      expect(prepared.code, prepared.stderr).toBe(0);
      const early = await cli([
        'rotate-root',
        'upload',
        'rotation.json',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(early.code).toBe(1);
      expect(parseJson<{ error: { code: string } }>(early).error.code).toBe('THRESHOLD_NOT_MET');
      for (const key of [rootKeyFiles[0]!, rootKeyFiles[1]!, 'root-3.key']) {
        const signed = await cli([
          'sign',
          '--role',
          'root',
          'rotation.json',
          '--key',
          key,
          // Each holder checks that the rotation replaces the root they trust.
          '--root',
          rootFile,
          '--json',
        ]);
        expect(signed.code, signed.stderr).toBe(0);
        expect(
          parseJson<{ roles: { role: string; removed: string[] }[] }>(signed).roles[0],
        ).toMatchObject({
          role: 'root',
          removed: [rotatedOut],
        });
      }
      const uploaded = await cli([
        'rotate-root',
        'upload',
        'rotation.json',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(uploaded.code, uploaded.stderr).toBe(0);
      expect(parseJson<{ version: number }>(uploaded).version).toBe(2);
      const served = await fetch(`${server.url}/metadata/2.root.json`);
      expect(served.status).toBe(200);
      const root2Bytes = new Uint8Array(await served.arrayBuffer());
      const root2 = JSON.parse(new TextDecoder().decode(root2Bytes)) as { signatures: unknown[] };
      expect(root2.signatures).toHaveLength(3);
      // A holder who trusts another root than the one being replaced refuses to sign.
      await writeFile(join(dir, '2.root.json'), root2Bytes);
      const wrongRoot = await cli([
        'sign',
        '--role',
        'root',
        'rotation.json',
        '--key',
        rootKeyFiles[0]!,
        '--root',
        '2.root.json',
        '--json',
      ]);
      expect(wrongRoot.code).toBe(1);
      expect(parseJson<{ error: { code: string } }>(wrongRoot).error.code).toBe('ROOT_NOT_TRUSTED');
    });

    it("targets add refuses the revoked release's image under another name with TARGET_REVOKED", async () => {
      const r = await cli([
        'targets',
        'add',
        'gateway-1.0.0.img',
        '--name',
        'gateway-1.0.1.img',
        '--hardware-id',
        'acme-gw-rev3',
        '--version',
        '1.0.1',
        '--release-counter',
        '2',
        '--build-key',
        'build.key',
        '--manifest',
        'after-revoke.json',
        '--token-file',
        'token',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(1);
      expect(parseJson<{ error: { code: string; status: number } }>(r).error).toMatchObject({
        code: 'TARGET_REVOKED',
        status: 409,
      });
      await expect(stat(join(dir, 'after-revoke.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('exits 1 with RELEASE_NOT_SERVED when the chain logs a release the server never served', async () => {
      // A publisher key used behind the server's back: an entry no vehicle could ever be served.
      await chain.writer().logRelease({
        metadataVersion: 1000,
        metadataHash: `0x${createHash('sha256').update('rogue targets').digest('hex')}`,
        firmware: [],
      });
      const r = await cli(auditArgs());
      expect(r.code).toBe(1);
      const report = parseJson<{ findings: { code: string; subject?: string }[] }>(r);
      expect(report.findings).toContainEqual(
        expect.objectContaining({ code: 'RELEASE_NOT_SERVED', subject: 'snapshot:1000' }),
      );
    });
  });
});

/** An encrypted key file `<name>.key` and its public key PEM `<name>.key.pub`, opened as a Signer. */
async function makeSigner(dir: string, name: string): Promise<Signer> {
  const path = join(dir, `${name}.key`);
  await writeEncryptedKeyFile(path, generateKeyPair('ed25519').privateKey, PASSPHRASE);
  const signer = await createFileSigner(path, PASSPHRASE);
  await writeFile(`${path}.pub`, signer.publicKeyPem());
  return signer;
}

async function publicPem(keyFile: string): Promise<string> {
  return (await createFileSigner(keyFile, PASSPHRASE)).publicKeyPem();
}
