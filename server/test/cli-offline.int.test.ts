import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createFileSigner,
  createVehicleCa,
  generateKeyPair,
  writeEncryptedKeyFile,
  type Signer,
} from '@tufchain/keys';
import { applyDelta, deltaTargetPath } from '@tufchain/transparency/delta';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initRepositoryFromRoot,
  startServer,
  type OpenedRepository,
  type RunningServer,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient } from './support/http.js';
import { openTestRepository } from './support/database.js';

const launcher = fileURLToPath(new URL('../bin/tufchain', import.meta.url));
const PASSPHRASE = 'offline holders passphrase';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function tufchain(args: string[], cwd: string, env: Record<string, string>): Promise<CliResult> {
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

const json = <T>(r: CliResult): T => {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
};
const errorCode = (r: CliResult): string => json<{ error: { code: string } }>(r).error.code;

/** An encrypted key file and its public key PEM `<name>.pub`. */
async function keyFile(dir: string, name: string): Promise<{ path: string; signer: Signer }> {
  const path = join(dir, name);
  await writeEncryptedKeyFile(path, generateKeyPair('ed25519').privateKey, PASSPHRASE);
  const signer = await createFileSigner(path, PASSPHRASE);
  await writeFile(`${path}.pub`, signer.publicKeyPem());
  return { path, signer };
}

describe('tufchain publish --offline-targets (k-of-n targets signing, real server and anvil)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let rootBytes: Uint8Array;
  let cli: (args: string[]) => Promise<CliResult>;
  let image: Buffer;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-cli-offline-'));
    await keyFile(dir, 'root.key');
    await keyFile(dir, 'targets-1.key');
    await keyFile(dir, 'targets-2.key');
    const build = await keyFile(dir, 'build.key');
    const online = {
      snapshot: (await keyFile(dir, 'snapshot.key')).signer,
      timestamp: (await keyFile(dir, 'timestamp.key')).signer,
    };
    // The whole offline bootstrap through the CLI: root v1 (1-of-1) and targets v1 signed by 2 of 2
    // targets holders; the server only ever gets public keys and the signed files.
    const holder = (args: string[]) =>
      tufchain([...args, '--json'], dir, { TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE });
    for (const args of [
      [
        'repo',
        'init',
        '--root-key',
        'root.key.pub',
        '--threshold',
        '1',
        '--targets-key',
        'targets-1.key.pub',
        '--targets-key',
        'targets-2.key.pub',
        '--targets-threshold',
        '2',
        '--snapshot-key',
        'snapshot.key.pub',
        '--timestamp-key',
        'timestamp.key.pub',
        '--out',
        'root-ceremony.json',
      ],
      ['sign', '--role', 'root', 'root-ceremony.json', '--key', 'root.key'],
      ['repo', 'finalize', 'root-ceremony.json'],
      // a flat repository: every release below is signed offline by the targets holders
      [
        'repo',
        'targets-v1',
        '--root',
        '1.root.json',
        '--no-bins',
        '--out',
        'targets-ceremony.json',
      ],
      // the default delegates releases to the server's online hashed bins (the snapshot key)
      ['repo', 'targets-v1', '--root', '1.root.json', '--out', 'targets-binned.json'],
      ['sign', '--role', 'targets', 'targets-ceremony.json', '--key', 'targets-1.key'],
      ['sign', '--role', 'targets', 'targets-ceremony.json', '--key', 'targets-2.key'],
      ['repo', 'finalize-targets', 'targets-ceremony.json', '--root', '1.root.json'],
    ]) {
      const r = await holder(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    const binned = JSON.parse(await readFile(join(dir, 'targets-binned.json'), 'utf8')) as {
      targets: {
        signed: { delegations: { roles: { name: string; keyids: string[]; paths: string[] }[] } };
      };
    };
    expect(binned.targets.signed.delegations.roles).toEqual([
      expect.objectContaining({
        name: 'bins',
        keyids: [online.snapshot.keyId],
        paths: ['*', '*/*'],
      }),
    ]);
    rootBytes = await readFile(join(dir, '1.root.json'));
    repo = await openTestRepository({ dataDir: join(dir, 'server') });
    const writer = chain.writer({ confirmations: 1 });
    await initRepositoryFromRoot({
      store: repo.store,
      rootBytes,
      onlineSigners: online,
      signedTargets: await readFile(join(dir, '1.targets.json')),
      releaseLog: writer,
    });
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: build.signer.publicKeyPem(), keyId: build.signer.keyId },
        vehicleCaPem: (await createVehicleCa({ commonName: 'offline test CA' })).certificatePem,
        config: { resignIntervalMs: 0 },
      },
    });
    const { token } = await createApiToken(repo.store, { name: 'cli', scopes: ['publish'] });
    const env = {
      TUFCHAIN_SERVER: server.url,
      TUFCHAIN_TOKEN: token,
      TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE,
    };
    cli = (args) => tufchain(args, dir, env);
    image = randomBytes(64 * 1024);
    await writeFile(join(dir, 'ecu-brake-2.1.0.bin'), image);
  });

  afterAll(async () => {
    await server?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stages the image, then an online publish is refused with OFFLINE_TARGETS_REQUIRED', async () => {
    const add = await cli([
      'targets',
      'add',
      'ecu-brake-2.1.0.bin',
      '--hardware-id',
      'acme-brake-ecu',
      '--version',
      '2.1.0',
      '--release-counter',
      '7',
      '--build-key',
      'build.key',
      '--json',
    ]);
    expect(add.code, add.stderr).toBe(0);
    const online = await cli(['publish', 'release.json', '--json']);
    expect(online.code).toBe(1);
    expect(errorCode(online)).toBe('OFFLINE_TARGETS_REQUIRED');
  });

  it('prepares targets v2, collects 2 of 2 holder signatures and uploads it: logged, then served', async () => {
    const prepared = await cli([
      'publish',
      'release.json',
      '--offline-targets',
      '--out',
      'targets-v2.json',
      '--json',
    ]);
    expect(prepared.code, prepared.stderr).toBe(0);
    expect(
      json<{ status: { version: number; threshold: number; signed: string[] } }>(prepared).status,
    ).toMatchObject({ version: 2, threshold: 2, signed: [] });

    const tooEarly = await cli(['publish', '--signed-targets', 'targets-v2.json', '--json']);
    expect(tooEarly.code).toBe(1);
    expect(errorCode(tooEarly)).toBe('THRESHOLD_NOT_MET');

    const first = await cli([
      'sign',
      '--role',
      'targets',
      'targets-v2.json',
      '--key',
      'targets-1.key',
      '--json',
    ]);
    expect(first.code, first.stderr).toBe(0);
    const [twice, stranger] = await Promise.all([
      cli(['sign', '--role', 'targets', 'targets-v2.json', '--key', 'targets-1.key', '--json']),
      cli(['sign', '--role', 'targets', 'targets-v2.json', '--key', 'build.key', '--json']),
    ]);
    expect([errorCode(twice), errorCode(stranger)]).toEqual([
      'ALREADY_SIGNED',
      'NOT_A_TARGETS_KEY',
    ]);
    // This holder checks the file against the root it trusts, not the one the file carries.
    const second = await cli([
      'sign',
      '--role',
      'targets',
      'targets-v2.json',
      '--key',
      'targets-2.key',
      '--root',
      '1.root.json',
      '--json',
    ]);
    expect(second.code, second.stderr).toBe(0);
    const status = json<{ status: { complete: boolean; added: { path: string }[] } }>(
      second,
    ).status;
    expect(status.complete).toBe(true);
    expect(status.added.map((a) => a.path).sort()).toEqual([
      'ecu-brake-2.1.0.bin',
      'ecu-brake-2.1.0.bin.sigstore.json',
    ]);

    const uploaded = await cli(['publish', '--signed-targets', 'targets-v2.json', '--json']);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    const release = json<{
      release: {
        status: string;
        metadataVersion: number;
        metadataHash: string;
        chain: { txHash: string };
      };
    }>(uploaded).release;
    expect(release).toMatchObject({ status: 'confirmed', metadataVersion: 2 });
    const receipt = await chain.provider.getTransactionReceipt(release.chain.txHash);
    expect(receipt?.status).toBe(1);

    // The chain logged the snapshot that pins the uploaded targets v2, served byte for byte.
    const snapshot = new Uint8Array(
      await (await fetch(`${server.url}/metadata/2.snapshot.json`)).arrayBuffer(),
    );
    expect(`0x${createHash('sha256').update(snapshot).digest('hex')}`).toBe(release.metadataHash);
    const pinned = JSON.parse(new TextDecoder().decode(snapshot)) as {
      signed: { meta: Record<string, { version: number }> };
    };
    expect(pinned.signed.meta['targets.json']?.version).toBe(2);
    const served = JSON.parse(
      await (await fetch(`${server.url}/metadata/2.targets.json`)).text(),
    ) as unknown;
    const file = JSON.parse(await readFile(join(dir, 'targets-v2.json'), 'utf8')) as {
      targets: { signatures: unknown[] };
    };
    expect(served).toEqual(file.targets);
    expect(file.targets.signatures).toHaveLength(2);

    // A conforming TUF client (tuf-js) accepts it and finds the image with its custom fields.
    const { updater } = await createTufClient(server.url, rootBytes);
    await updater.refresh();
    const info = await updater.getTargetInfo('ecu-brake-2.1.0.bin');
    expect(info?.hashes.sha256).toBe(createHash('sha256').update(image).digest('hex'));
    expect(info?.custom).toMatchObject({
      kind: 'firmware',
      hardwareIds: ['acme-brake-ecu'],
      releaseCounter: 7,
    });
  });

  it('lists the delta from 2.1.0 in the offline-signed targets v3 of the flat repository, logged with 2.1.1 in one snapshot', async () => {
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const next = Buffer.from(image);
    for (const at of [10, 20_000, 50_000]) next[at] = (next[at]! + 1) & 0xff;
    await writeFile(join(dir, 'ecu-brake-2.1.1.bin'), next);
    const add = await cli([
      'targets',
      'add',
      'ecu-brake-2.1.1.bin',
      '--hardware-id',
      'acme-brake-ecu',
      '--version',
      '2.1.1',
      '--release-counter',
      '8',
      '--build-key',
      'build.key',
      '--manifest',
      'flat-2.1.1.json',
      '--json',
    ]);
    expect(add.code, add.stderr).toBe(0);
    const prepared = await cli([
      'publish',
      'flat-2.1.1.json',
      '--offline-targets',
      '--out',
      'targets-v3.json',
      '--json',
    ]);
    expect(prepared.code, prepared.stderr).toBe(0);
    const deltaName = `ecu-brake-2.1.1.bin.from-${sha(image).slice(0, 16)}.delta`;
    const answer = json<{
      added: string[];
      deltas: { image: string; target: string; length: number; baseVersion: string }[];
    }>(prepared);
    expect(answer.deltas).toEqual([
      expect.objectContaining({
        image: 'ecu-brake-2.1.1.bin',
        target: deltaName,
        baseVersion: '2.1.0',
      }),
    ]);
    expect(answer.deltas[0]!.length).toBeLessThan(next.length / 10);
    expect(answer.added).toContain(deltaName);
    // The same release prepared again (human output): the server makes the same delta.
    const again = await cli([
      'publish',
      'flat-2.1.1.json',
      '--offline-targets',
      '--out',
      'again.json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /ecu-brake-2\.1\.1\.bin from 2\.1\.0: [\d.]+ (B|KiB) \([\d.]+% of 64\.0 KiB\)/,
    );
    type SigningFile = { targets: { signed: { targets: Record<string, unknown> } } };
    const read = async (f: string) =>
      JSON.parse(await readFile(join(dir, f), 'utf8')) as SigningFile;
    expect((await read('again.json')).targets.signed.targets).toEqual(
      (await read('targets-v3.json')).targets.signed.targets,
    );

    for (const key of ['targets-1.key', 'targets-2.key']) {
      const signed = await cli([
        'sign',
        '--role',
        'targets',
        'targets-v3.json',
        '--key',
        key,
        '--json',
      ]);
      expect(signed.code, signed.stderr).toBe(0);
    }
    const uploaded = await cli(['publish', '--signed-targets', 'targets-v3.json', '--json']);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    const release = json<{
      release: {
        status: string;
        metadataVersion: number;
        metadataHash: string;
        deltas: { image: string; target: string; baseVersion: string }[];
      };
    }>(uploaded).release;
    expect(release.status).toBe('confirmed');
    expect(release.deltas).toEqual([
      expect.objectContaining({
        image: 'ecu-brake-2.1.1.bin',
        target: deltaName,
        baseVersion: '2.1.0',
      }),
    ]);

    // One chain log entry for that snapshot, naming 2.1.1 only; the snapshot pins targets v3.
    const snapshot = new Uint8Array(
      await (
        await fetch(`${server.url}/metadata/${release.metadataVersion}.snapshot.json`)
      ).arrayBuffer(),
    );
    expect(`0x${sha(snapshot)}`).toBe(release.metadataHash);
    const logged = (await chain.reader().releases()).filter(
      (r) => r.metadataVersion === release.metadataVersion,
    );
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ metadataHash: release.metadataHash });
    expect(logged[0]!.firmware.map((f) => f.digest)).toEqual([`0x${sha(next)}`]);
    const served = JSON.parse(
      await (await fetch(`${server.url}/metadata/3.targets.json`)).text(),
    ) as unknown;
    expect(served).toEqual((await read('targets-v3.json')).targets);

    // A TUF client finds the delta through the image's custom.deltas and rebuilds 2.1.1 from it.
    const { updater, dir: clientDir } = await createTufClient(server.url, rootBytes);
    try {
      await updater.refresh();
      const info = await updater.getTargetInfo('ecu-brake-2.1.1.bin');
      expect(info?.custom.deltas).toEqual([
        { target: deltaName, baseSha256: sha(image), baseVersion: '2.1.0' },
      ]);
      const deltaInfo = await updater.getTargetInfo(deltaName);
      expect(deltaInfo?.custom).toMatchObject({
        kind: 'delta',
        target: 'ecu-brake-2.1.1.bin',
        targetSha256: sha(next),
        base: { sha256: sha(image), version: '2.1.0' },
      });
      const delta = await readFile(
        await updater.downloadTarget(deltaInfo!, join(clientDir, 'delta')),
      );
      expect(sha(delta)).toBe(deltaInfo!.hashes.sha256);
      expect(applyDelta(image, delta).equals(next)).toBe(true);
    } finally {
      await rm(clientDir, { recursive: true, force: true });
    }
  });

  describe('when the offline targets delegate to the online bins', () => {
    let binned: RunningServer;
    let binnedRepo: OpenedRepository;
    // A repository of its own logs on a chain of its own (the log's versions start at 1 again).
    let binnedChain: TestChain;
    let run: (args: string[]) => Promise<CliResult>;

    beforeAll(async () => {
      const holder = (args: string[]) =>
        tufchain([...args, '--json'], dir, { TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE });
      for (const args of [
        ['sign', '--role', 'targets', 'targets-binned.json', '--key', 'targets-1.key'],
        ['sign', '--role', 'targets', 'targets-binned.json', '--key', 'targets-2.key'],
        [
          'repo',
          'finalize-targets',
          'targets-binned.json',
          '--root',
          '1.root.json',
          '--out',
          'binned.targets.json',
        ],
      ]) {
        const r = await holder(args);
        expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      }
      const snapshotKey = await createFileSigner(join(dir, 'snapshot.key'), PASSPHRASE);
      const timestampKey = await createFileSigner(join(dir, 'timestamp.key'), PASSPHRASE);
      const online = { snapshot: snapshotKey, timestamp: timestampKey };
      binnedRepo = await openTestRepository({ dataDir: join(dir, 'server-binned') });
      binnedChain = await startTestChain();
      const writer = binnedChain.writer({ confirmations: 1 });
      await initRepositoryFromRoot({
        store: binnedRepo.store,
        rootBytes,
        onlineSigners: online,
        signedTargets: await readFile(join(dir, 'binned.targets.json')),
        releaseLog: writer,
      });
      const build = await createFileSigner(join(dir, 'build.key'), PASSPHRASE);
      binned = await startServer({
        port: 0,
        deps: {
          store: binnedRepo.store,
          blobs: binnedRepo.blobs,
          signers: online,
          releaseLog: writer,
          firmwareKey: { publicKeyPem: build.publicKeyPem(), keyId: build.keyId },
          vehicleCaPem: (await createVehicleCa({ commonName: 'offline test CA' })).certificatePem,
          config: { resignIntervalMs: 0 },
        },
      });
      const { token } = await createApiToken(binnedRepo.store, {
        name: 'cli',
        scopes: ['publish'],
      });
      run = (args) =>
        tufchain(args, dir, {
          TUFCHAIN_SERVER: binned.url,
          TUFCHAIN_TOKEN: token,
          TUFCHAIN_KEY_PASSPHRASE: PASSPHRASE,
        });
    });

    afterAll(async () => {
      await binned?.close();
      await binnedRepo?.close();
      await binnedChain?.stop();
    });

    /** Stages `file`, prepares the next targets version, has 2 of 2 holders sign it, uploads it. */
    async function offlineRelease(file: string, version: string, counter: number) {
      const manifest = `binned-${version}.json`;
      const out = `binned-targets-${version}.json`;
      for (const args of [
        [
          'targets',
          'add',
          file,
          '--hardware-id',
          'acme-brake-ecu',
          '--version',
          version,
          '--release-counter',
          String(counter),
          '--build-key',
          'build.key',
          '--manifest',
          manifest,
        ],
        ['publish', manifest, '--offline-targets', '--out', out],
        ['sign', '--role', 'targets', out, '--key', 'targets-1.key'],
        ['sign', '--role', 'targets', out, '--key', 'targets-2.key'],
      ]) {
        const r = await run([...args, '--json']);
        expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      }
      const uploaded = await run(['publish', '--signed-targets', out, '--json']);
      expect(uploaded.code, uploaded.stderr).toBe(0);
      return { out, uploaded };
    }

    it('publishes the delta from the previous offline-signed release in a bin, in the same logged snapshot', async () => {
      await offlineRelease('ecu-brake-2.1.0.bin', '2.1.0', 7);
      const next = Buffer.from(image);
      for (const at of [100, 30_000, 60_000]) next[at] = (next[at]! + 1) & 0xff;
      await writeFile(join(dir, 'ecu-brake-2.2.0.bin'), next);
      const { out, uploaded } = await offlineRelease('ecu-brake-2.2.0.bin', '2.2.0', 8);
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      const deltaPath = deltaTargetPath(sha(next), sha(image));
      const release = json<{
        release: {
          status: string;
          metadataVersion: number;
          metadataHash: string;
          deltas: { image: string; target: string; length: number; baseVersion: string }[];
        };
      }>(uploaded).release;
      expect(release.status).toBe('confirmed');
      expect(release.deltas).toEqual([
        expect.objectContaining({
          image: 'ecu-brake-2.2.0.bin',
          target: deltaPath,
          baseVersion: '2.1.0',
        }),
      ]);
      expect(release.deltas[0]!.length).toBeLessThan(next.length / 10);

      // The offline-signed targets are served as the holders signed them, without the delta;
      // the snapshot the chain logged pins it and the bin (online key) that lists the delta.
      const file = JSON.parse(await readFile(join(dir, out), 'utf8')) as {
        targets: { signed: { version: number; targets: Record<string, unknown> } };
      };
      expect(Object.keys(file.targets.signed.targets)).not.toContain(deltaPath);
      const snapshot = new Uint8Array(
        await (
          await fetch(`${binned.url}/metadata/${release.metadataVersion}.snapshot.json`)
        ).arrayBuffer(),
      );
      expect(`0x${sha(snapshot)}`).toBe(release.metadataHash);
      expect((await binnedChain.reader().findRelease(release.metadataHash)).metadataVersion).toBe(
        release.metadataVersion,
      );

      const { updater, dir: clientDir } = await createTufClient(binned.url, rootBytes);
      try {
        await updater.refresh();
        const info = await updater.getTargetInfo(deltaPath);
        expect(info?.custom).toMatchObject({
          kind: 'delta',
          target: 'ecu-brake-2.2.0.bin',
          targetSha256: sha(next),
          base: { sha256: sha(image), version: '2.1.0' },
        });
        const delta = await readFile(await updater.downloadTarget(info!, join(clientDir, 'delta')));
        expect(sha(applyDelta(image, delta))).toBe(sha(next));
      } finally {
        await rm(clientDir, { recursive: true, force: true });
      }
    });
  });
});
