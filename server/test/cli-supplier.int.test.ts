import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hardwareIdHash } from '@tufchain/contracts';
import {
  createFileSigner,
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signMetadata,
  writeEncryptedKeyFile,
  type KeyType,
  type Signer,
} from '@tufchain/keys';
import { applyDelta, deltaTargetPath } from '@tufchain/transparency/delta';
import { Metadata, MetadataKind, TargetFile, type Root } from '@tufjs/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initRepository,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '../src/index.js';
import { runCli } from '../src/cli/run.js';
import { buildRoot } from '../src/tuf/metadata.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient } from './support/http.js';
import { openTestRepository } from './support/database.js';

const launcher = fileURLToPath(new URL('../bin/tufchain', import.meta.url));
const PASSPHRASE = 'supplier holders passphrase';
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `tufchain` executable (server/bin/tufchain) as a child process. */
function tufchain(args: string[], cwd: string, env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      launcher,
      args,
      {
        cwd,
        // Only what the CLI needs: no TUFCHAIN_* or NODE_OPTIONS leak in from the test runner.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...env },
        maxBuffer: 16 * 1024 * 1024,
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

const json = <T>(r: CliResult): T => {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
};
const errorCode = (r: CliResult): string => json<{ error: { code: string } }>(r).error.code;

/** An encrypted key file and its public key PEM `<name>.pub`. */
async function keyFile(dir: string, name: string, type: KeyType = 'ed25519'): Promise<Signer> {
  const path = join(dir, name);
  await writeEncryptedKeyFile(path, generateKeyPair(type).privateKey, PASSPHRASE);
  const signer = await createFileSigner(path, PASSPHRASE);
  await writeFile(`${path}.pub`, signer.publicKeyPem());
  return signer;
}

interface SigningStatus {
  version: number;
  threshold: number;
  signed: string[];
  complete: boolean;
  hardwareIds: string[];
  added: { path: string; kind: string }[];
}

interface SupplierFile {
  supplier: string;
  root: Record<string, unknown>;
  delegator: { signed: Record<string, unknown>; signatures: unknown[] };
  previous: { signed: { version: number; targets: Record<string, unknown> } } | null;
  targets: {
    signed: { version: number; targets: Record<string, { custom: Record<string, unknown> }> };
    signatures: unknown[];
  };
}

describe('tufchain supplier (hardware-ID-scoped supplier releases, real CLI, server and anvil)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let rootBytes: Uint8Array;
  let acmeKeys: Signer[];
  let image: Buffer;
  let oem: (args: string[]) => Promise<CliResult>;
  let supplier: (args: string[]) => Promise<CliResult>;
  const readJson = async <T>(name: string): Promise<T> =>
    JSON.parse(await readFile(join(dir, name), 'utf8')) as T;
  const prepareArgs = (out: string, hardwareIds: string[], imageFile = 'brake-4.2.0.bin') => [
    'supplier',
    'prepare',
    'acme',
    imageFile,
    ...hardwareIds.flatMap((h) => ['--hardware-id', h]),
    '--version',
    '4.2.0',
    '--release-counter',
    '42',
    '--build-key',
    'build.key',
    '--out',
    out,
    '--json',
  ];

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-cli-supplier-'));
    const ed = () => createKeySigner(generateKeyPair('ed25519').privateKey);
    const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
    const build = await keyFile(dir, 'build.key', 'ecdsa-p256');
    acmeKeys = [await keyFile(dir, 'acme-1.key'), await keyFile(dir, 'acme-2.key', 'ecdsa-p256')];
    repo = await openTestRepository({ dataDir: join(dir, 'server') });
    const releaseLog = chain.writer({ confirmations: 1 });
    ({ rootBytes } = await initRepository({
      store: repo.store,
      rootSigners: [ed()],
      onlineSigners: online,
      releaseLog,
    }));
    await writeFile(join(dir, '1.root.json'), rootBytes);
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog,
        firmwareKey: { publicKeyPem: build.publicKeyPem(), keyId: build.keyId },
        vehicleCaPem: (await createVehicleCa({ commonName: 'supplier test CA' })).certificatePem,
        config: { resignIntervalMs: 0 },
      },
    });
    const admin = (await createApiToken(repo.store, { name: 'oem', scopes: ['admin'] })).token;
    const publish = (await createApiToken(repo.store, { name: 'acme-ci', scopes: ['publish'] }))
      .token;
    const base = { TUFCHAIN_SERVER: server.url, TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE };
    oem = (args) => tufchain(args, dir, { ...base, TUFCHAIN_TOKEN: admin });
    supplier = (args) => tufchain(args, dir, { ...base, TUFCHAIN_TOKEN: publish });
    // Above the 1 MiB progress threshold, so the upload reports progress.
    image = randomBytes(1536 * 1024);
    await writeFile(join(dir, 'brake-4.2.0.bin'), image);
  });

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    { args: ['supplier', '--help'], want: 'publish [options] <id> <file>', json: false },
    { args: ['supplier', 'add', '--help'], want: 'Usage: tufchain supplier add', json: true },
    {
      args: ['supplier', 'prepare', '--help'],
      want: 'Usage: tufchain supplier prepare',
      json: true,
    },
    {
      args: ['supplier', 'publish', '--help'],
      want: 'Usage: tufchain supplier publish',
      json: true,
    },
    { args: ['sign', '--help'], want: 'supplier signing file', json: true },
  ])('`tufchain $args` prints its usage and exits 0', async ({ args, want, json: jsonMode }) => {
    // runCli, what main.ts runs, in this process: a usage text needs no process of its own
    // (cli.int.test.ts runs `tufchain --help` as one), and each process costs ~1.5 s of CPU.
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli(args, {
      env: {},
      io: {
        stdout: (text) => stdout.push(`${text}\n`),
        stderr: (text) => stderr.push(`${text}\n`),
        stderrRaw: (text) => stderr.push(text),
        stderrIsTty: false,
      },
      fetch: globalThis.fetch,
    });
    const r: CliResult = { code, stdout: stdout.join(''), stderr: stderr.join('') };
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(want);
    if (jsonMode) expect(r.stdout).toContain('--json');
  });

  it('lets the OEM delegate acme-brake to 2-of-2 supplier keys, logged on chain', async () => {
    const logged = (await chain.reader().releases()).length;
    const r = await oem([
      'supplier',
      'add',
      'acme',
      '--hardware-id',
      'acme-brake',
      '--key',
      'acme-1.key.pub',
      '--key',
      'acme-2.key.pub',
      '--threshold',
      '2',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({
      supplier: 'acme',
      role: 'supplier-acme',
      hardwareIds: ['acme-brake'],
      keyIds: acmeKeys.map((k) => k.keyId),
      threshold: 2,
    });
    const entries = await chain.reader().releases();
    expect(entries).toHaveLength(logged + 1);
    expect(entries.at(-1)?.metadataVersion).toBe(
      json<{ metadataVersion: number }>(r).metadataVersion,
    );

    // The supplier cannot add itself: delegating needs the admin scope.
    const again = await supplier([
      'supplier',
      'add',
      'bolt',
      '--hardware-id',
      'bolt-gw',
      '--key',
      'acme-1.key.pub',
      '--threshold',
      '1',
      '--json',
    ]);
    expect(again.code).toBe(1);
    expect(errorCode(again)).toBe('INSUFFICIENT_SCOPE');
  });

  it('prepares a release, refuses to publish below threshold, then publishes 2 of 2: on chain and resolvable by tuf-js', async () => {
    const prepared = await supplier(prepareArgs('acme-v1.json', ['acme-brake']));
    expect(prepared.code, prepared.stderr).toBe(0);
    expect(prepared.stderr).toMatch(/upload acme-brake--brake-4\.2\.0\.bin: 100%/);
    const path = 'acme-brake/brake-4.2.0.bin';
    expect(json<{ status: SigningStatus }>(prepared).status).toMatchObject({
      version: 1,
      threshold: 2,
      signed: [],
      complete: false,
      hardwareIds: ['acme-brake'],
      added: [
        { path, kind: 'firmware' },
        { path: `${path}.sigstore.json`, kind: 'attestation' },
      ],
    });

    const unsigned = await supplier(['supplier', 'publish', 'acme', 'acme-v1.json', '--json']);
    expect(unsigned.code).toBe(1);
    expect(errorCode(unsigned)).toBe('THRESHOLD_NOT_MET');

    const sign = (key: string, ...extra: string[]) =>
      supplier(['sign', '--role', 'supplier', 'acme-v1.json', '--key', key, ...extra, '--json']);
    const first = await sign('acme-1.key');
    expect(first.code, first.stderr).toBe(0);
    expect(json<{ status: SigningStatus }>(first).status).toMatchObject({
      signed: [acmeKeys[0]!.keyId],
      complete: false,
    });
    const [twice, stranger] = await Promise.all([sign('acme-1.key'), sign('build.key')]);
    expect([errorCode(twice), errorCode(stranger)]).toEqual([
      'ALREADY_SIGNED',
      'NOT_A_SUPPLIER_KEY',
    ]);
    const oneOfTwo = await supplier(['supplier', 'publish', 'acme', 'acme-v1.json', '--json']);
    expect(oneOfTwo.code).toBe(1);
    expect(errorCode(oneOfTwo)).toBe('THRESHOLD_NOT_MET');
    expect(await repo.store.publishedVersions('supplier-acme')).toEqual([]);

    // The second holder checks the chain of trust against the OEM root it holds.
    const second = await sign('acme-2.key', '--root', '1.root.json');
    expect(second.code, second.stderr).toBe(0);
    expect(json<{ status: SigningStatus }>(second).status.complete).toBe(true);

    const published = await supplier(['supplier', 'publish', 'acme', 'acme-v1.json', '--json']);
    expect(published.code, published.stderr).toBe(0);
    const { release } = json<{
      release: {
        status: string;
        metadataHash: string;
        targets: string[];
        chain: { txHash: string };
      };
    }>(published);
    expect(release).toMatchObject({ status: 'confirmed', targets: [path] });
    expect((await chain.provider.getTransactionReceipt(release.chain.txHash))?.status).toBe(1);

    // The chain entry of the snapshot that added it lists the image digest for acme-brake.
    const logged = await chain.reader().findRelease(release.metadataHash);
    expect(logged.firmware).toEqual([
      { digest: `0x${sha256(image)}`, hardwareIdHash: hardwareIdHash('acme-brake'), version: 42 },
    ]);
    // Served byte for byte as the holders signed it.
    const served = await (await fetch(`${server.url}/metadata/1.supplier-acme.json`)).json();
    expect(served).toEqual((await readJson<SupplierFile>('acme-v1.json')).targets);

    // A conforming TUF client walks targets -> supplier-acme and downloads the image.
    const client = await createTufClient(server.url, rootBytes);
    try {
      await client.updater.refresh();
      const info = await client.updater.getTargetInfo(path);
      expect(info?.custom).toMatchObject({
        kind: 'firmware',
        hardwareIds: ['acme-brake'],
        version: '4.2.0',
        releaseCounter: 42,
        attestation: `${path}.sigstore.json`,
      });
      const downloaded = await client.updater.downloadTarget(info!, join(client.dir, 'brake.bin'));
      expect(sha256(await readFile(downloaded))).toBe(sha256(image));
    } finally {
      await rm(client.dir, { recursive: true, force: true });
    }
  });

  it('keeps every released target in the next version of the role', async () => {
    await writeFile(join(dir, 'brake-4.3.0.bin'), randomBytes(4096));
    const r = await supplier(prepareArgs('acme-v2.json', ['acme-brake'], 'brake-4.3.0.bin'));
    expect(r.code, r.stderr).toBe(0);
    const file = await readJson<SupplierFile>('acme-v2.json');
    expect(file.previous?.signed.version).toBe(1);
    expect(file.targets.signed.version).toBe(2);
    expect(Object.keys(file.targets.signed.targets).sort()).toEqual([
      'acme-brake/brake-4.2.0.bin',
      'acme-brake/brake-4.2.0.bin.sigstore.json',
      'acme-brake/brake-4.3.0.bin',
      'acme-brake/brake-4.3.0.bin.sigstore.json',
    ]);
    expect(json<{ status: SigningStatus }>(r).status.added.map((a) => a.path)).toEqual([
      'acme-brake/brake-4.3.0.bin',
      'acme-brake/brake-4.3.0.bin.sigstore.json',
    ]);
  });

  describe('attacks: a supplier signing for hardware it does not own', () => {
    /** A copy of acme-v2.json (2 signatures short), tampered and written as `name`. */
    async function tamperedFile(
      name: string,
      tamper: (file: SupplierFile) => Promise<void> | void,
    ): Promise<string> {
      const file = await readJson<SupplierFile>('acme-v2.json');
      await tamper(file);
      await writeFile(join(dir, name), JSON.stringify(file));
      return name;
    }

    /** Signs the file's supplier role with both acme keys outside the CLI (as colluding holders could). */
    async function signedByBoth(file: SupplierFile): Promise<void> {
      const md = Metadata.fromJSON(MetadataKind.Targets, {
        ...file.targets,
        signatures: [],
      } as never);
      for (const k of acmeKeys) await signMetadata(md, k);
      file.targets = md.toJSON() as SupplierFile['targets'];
    }

    const evilTarget = (path: string, hardwareIds: string[]) =>
      new TargetFile({
        path,
        length: image.length,
        hashes: { sha256: sha256(image) },
        unrecognizedFields: {
          custom: {
            kind: 'firmware',
            hardwareIds,
            version: '9.9.9',
            releaseCounter: 99,
            attestation: `${path}.sigstore.json`,
          },
        },
      }).toJSON();

    it.each([
      {
        desc: 'prepare for oem-gateway (an OEM hardware ID) is refused before any upload',
        run: () => supplier(prepareArgs('evil-1.json', ['oem-gateway'])),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
        wantExit: 1,
      },
      {
        desc: 'prepare claiming acme-brake and oem-gateway is refused before any upload',
        run: () => supplier(prepareArgs('evil-2.json', ['acme-brake', 'oem-gateway'])),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
        wantExit: 1,
      },
      {
        desc: 'a signing file edited to claim oem-gateway is refused by the next holder',
        run: async () =>
          supplier([
            'sign',
            '--role',
            'supplier',
            await tamperedFile('evil-3.json', (f) => {
              f.targets.signed.targets['acme-brake/brake-4.3.0.bin']!.custom.hardwareIds = [
                'acme-brake',
                'oem-gateway',
              ];
            }),
            '--key',
            'acme-1.key',
            '--json',
          ]),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
        wantExit: 1,
      },
      {
        desc: 'a file whose root and delegation are forged to grant oem-gateway passes the local checks, and the server refuses it',
        run: async () =>
          supplier([
            'supplier',
            'publish',
            'acme',
            await tamperedFile('evil-4.json', async (f) => {
              const forger = createKeySigner(generateKeyPair('ed25519').privateKey);
              const expires = new Date(Date.now() + 86_400_000)
                .toISOString()
                .replace(/\.\d{3}Z$/, 'Z');
              const one = { keys: [forger], threshold: 1 };
              const root = new Metadata<Root>(
                buildRoot({
                  version: 1,
                  expires,
                  roles: { root: one, targets: one, snapshot: one, timestamp: one },
                }),
              );
              await signMetadata(root, forger);
              f.root = root.toJSON();
              const delegator = JSON.parse(JSON.stringify(f.delegator.signed)) as {
                delegations: { roles: Record<string, unknown>[] };
              };
              const acme = delegator.delegations.roles.find((r) => r.name === 'supplier-acme')!;
              acme['x-tufchain-hardware-ids'] = ['acme-brake', 'oem-gateway'];
              acme.paths = ['acme-brake/*', 'oem-gateway/*'];
              const forged = Metadata.fromJSON(MetadataKind.Targets, {
                signed: delegator,
                signatures: [],
              } as never);
              await signMetadata(forged, forger);
              f.delegator = forged.toJSON() as SupplierFile['delegator'];
              f.targets.signed.targets['oem-gateway/evil.bin'] = evilTarget(
                'oem-gateway/evil.bin',
                ['oem-gateway'],
              ) as never;
              await signedByBoth(f);
            }),
            '--json',
          ]),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
        wantExit: 1,
        wantStatus: 422,
      },
    ])('$desc ($wantCode)', async ({ run, wantCode, wantExit, ...rest }) => {
      const logged = (await chain.reader().releases()).length;
      const r = await run();
      expect(r.code, r.stderr).toBe(wantExit);
      const error = json<{ error: { code: string; status?: number } }>(r).error;
      expect(error.code).toBe(wantCode);
      if ('wantStatus' in rest) expect(error.status).toBe(rest.wantStatus);
      expect(r.stderr).not.toMatch(/^upload /m);
      expect(await repo.store.publishedVersions('supplier-acme')).toEqual([1]);
      expect((await chain.reader().releases()).length).toBe(logged);
      for (const unwritten of ['evil-1.json', 'evil-2.json']) {
        await expect(stat(join(dir, unwritten))).rejects.toMatchObject({ code: 'ENOENT' });
      }
    });
  });

  it('publishes the delta from 4.2.0 to the supplier’s next image in the online bins, in the same logged snapshot', async () => {
    // 4.4.0 is 4.2.0 with a few bytes changed: what a vehicle on 4.2.0 should download is small.
    const next = Buffer.from(image);
    for (const at of [10, 700_000, 1_500_000]) next[at] = (next[at]! + 1) & 0xff;
    await writeFile(join(dir, 'brake-4.4.0.bin'), next);
    const prepared = await supplier([
      'supplier',
      'prepare',
      'acme',
      'brake-4.4.0.bin',
      '--hardware-id',
      'acme-brake',
      '--version',
      '4.4.0',
      '--release-counter',
      '44',
      '--build-key',
      'build.key',
      '--out',
      'acme-v3.json',
      '--json',
    ]);
    expect(prepared.code, prepared.stderr).toBe(0);
    for (const key of ['acme-1.key', 'acme-2.key']) {
      const r = await supplier([
        'sign',
        '--role',
        'supplier',
        'acme-v3.json',
        '--key',
        key,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
    }
    const published = await supplier(['supplier', 'publish', 'acme', 'acme-v3.json', '--json']);
    expect(published.code, published.stderr).toBe(0);
    const path = 'acme-brake/brake-4.4.0.bin';
    const deltaPath = deltaTargetPath(sha256(next), sha256(image));
    const { release } = json<{
      release: {
        status: string;
        metadataVersion: number;
        metadataHash: string;
        deltas: { image: string; target: string; length: number; baseVersion: string }[];
      };
    }>(published);
    // The release answer (and the CLI's text) lists the delta and its size.
    expect(release.status).toBe('confirmed');
    expect(release.deltas).toEqual([
      expect.objectContaining({ image: path, target: deltaPath, baseVersion: '4.2.0' }),
    ]);
    expect(release.deltas[0]!.length).toBeLessThan(next.length / 100);
    const text = await supplier(['supplier', 'publish', 'acme', 'acme-v3.json']);
    expect(text.stdout).toMatch(/acme-brake\/brake-4\.4\.0\.bin from 4\.2\.0: .* of 1\.5 MiB/);

    // The supplier's role is served byte for byte as its holders signed it: the server added
    // nothing to it. The delta is in a bin, signed with the online key, in the snapshot the
    // chain logged for this release.
    const served = await (await fetch(`${server.url}/metadata/2.supplier-acme.json`)).json();
    expect(served).toEqual((await readJson<SupplierFile>('acme-v3.json')).targets);
    expect(JSON.stringify(served)).not.toContain('delta');
    const timestamp = (await (await fetch(`${server.url}/metadata/timestamp.json`)).json()) as {
      signed: { meta: { 'snapshot.json': { version: number } } };
    };
    expect(timestamp.signed.meta['snapshot.json'].version).toBe(release.metadataVersion);
    expect((await chain.reader().findRelease(release.metadataHash)).firmware).toEqual([
      { digest: `0x${sha256(next)}`, hardwareIdHash: hardwareIdHash('acme-brake'), version: 44 },
    ]);

    // A conforming TUF client finds it by the two digests, through the bins, and it rebuilds the
    // image the supplier signed.
    const client = await createTufClient(server.url, rootBytes);
    try {
      await client.updater.refresh();
      const info = await client.updater.getTargetInfo(deltaPath);
      expect(info?.custom).toMatchObject({
        kind: 'delta',
        target: path,
        targetSha256: sha256(next),
        base: { sha256: sha256(image), length: image.length, version: '4.2.0' },
      });
      const file = await client.updater.downloadTarget(info!, join(client.dir, 'delta'));
      expect(sha256(applyDelta(image, await readFile(file)))).toBe(sha256(next));
      expect((await client.updater.getTargetInfo(path))?.hashes['sha256']).toBe(sha256(next));
    } finally {
      await rm(client.dir, { recursive: true, force: true });
    }
  });
});
