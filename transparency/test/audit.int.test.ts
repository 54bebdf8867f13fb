import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContractTransactionResponse } from 'ethers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createVehicleCa,
  createVehicleIdentity,
  type Signer,
  type VehicleCa,
  type VehicleIdentity,
} from '@tufchain/keys';
import {
  auditRepository,
  ChainReader,
  createHttpAuditSource,
  ReleaseLogWriter,
  runAuditCli,
  sha256Hex,
  AnchorService,
  createLocalLogAuditSource,
  createNoteSigner,
  createNoteVerifier,
  createProofBundle,
  createVehicleAuditPacks,
  openLogDatabase,
  signCheckpoint,
  SqliteLogStorage,
  TransparencyError,
  TransparencyLog,
  verifyVehicleAuditPack,
  writeVehicleAuditPack,
  formatVerifierKey,
  LogService,
  type AuditOptions,
  type LogAuditSource,
  type VehicleAuditPack,
} from '../src/index.js';
import { hardwareIdHash } from '@tufchain/contracts';
import { startTestChain, type TestChain } from './helpers/chain.js';
import {
  installBundle,
  newSigner,
  rootBytes,
  serveRepo,
  sha256,
  signedRoot,
  signedTargets,
  type FirmwareSpec,
  type RepoState,
} from './helpers/tuf-repo.js';

interface Ctx {
  t: TestChain;
  repo: RepoState;
  writer: ReleaseLogWriter;
  rootSigner: Signer;
  targetsSigner: Signer;
  vehicle: VehicleIdentity;
  ca: VehicleCa;
  fw: FirmwareSpec[];
  v2Hash: string;
  publish(
    version: number,
    firmware: FirmwareSpec[],
    signers?: Signer[],
    opts?: { log?: boolean; serve?: boolean },
  ): Promise<Uint8Array>;
}

let t: TestChain;
let server: { url: string; close(): Promise<void> };
let snapshot: string;
let logService: LogService | undefined;
const ctx = {} as Ctx;
const repo: RepoState = { roots: new Map(), targets: new Map(), attestations: [] };

const firmware = (name: string, releaseCounter: number): FirmwareSpec => ({
  name,
  bytes: randomBytes(256),
  hardwareIds: ['ecu-brake-v1'],
  releaseCounter,
});

beforeAll(async () => {
  t = await startTestChain();
  server = await serveRepo(repo, () => logService);
  ctx.t = t;
  ctx.repo = repo;
  ctx.writer = new ReleaseLogWriter({
    signer: t.publisher,
    contractAddress: t.address,
    confirmations: 1,
    pollIntervalMs: 50,
  });
  ctx.rootSigner = newSigner();
  ctx.targetsSigner = newSigner();
  ctx.ca = await createVehicleCa({ commonName: 'tufchain test vehicle CA' });
  ctx.vehicle = await createVehicleIdentity(ctx.ca, {
    vin: 'WVWZZZ1JZXW000001',
    ecuSerial: 'ECU-0001',
  });
  ctx.fw = [
    firmware('brake-1.1.0.bin', 1),
    firmware('brake-1.2.0.bin', 2),
    firmware('brake-1.3.0.bin', 3),
  ];
  ctx.publish = async (version, fw, signers = [ctx.targetsSigner], opts = {}) => {
    const bytes = await signedTargets(version, fw, signers);
    if (opts.log !== false) {
      await ctx.writer.logRelease({
        metadataVersion: version,
        metadataHash: sha256Hex(bytes),
        firmware: fw.flatMap((f) =>
          f.hardwareIds.map((hardwareId) => ({
            digest: '0x' + sha256(f.bytes),
            hardwareId,
            version: f.releaseCounter,
          })),
        ),
      });
    }
    if (opts.serve !== false) repo.targets.set(version, bytes);
    return bytes;
  };
});

afterAll(async () => {
  await server?.close();
  await t?.stop();
});

beforeEach(async () => {
  snapshot = (await t.provider.send('evm_snapshot', [])) as string;
  repo.roots.clear();
  repo.targets.clear();
  repo.attestations.length = 0;
  const root = signedRoot({
    version: 1,
    root: [ctx.rootSigner],
    targets: [ctx.targetsSigner],
  });
  repo.roots.set(1, await rootBytes(root, [ctx.rootSigner]));
  await ctx.publish(1, [ctx.fw[0]!]);
  const v2 = await ctx.publish(2, [ctx.fw[0]!, ctx.fw[1]!]);
  ctx.v2Hash = sha256Hex(v2);
  repo.attestations.push(
    await installBundle(
      ctx.vehicle,
      { name: ctx.fw[1]!.name, digest: sha256(ctx.fw[1]!.bytes), releaseCounter: 2 },
      { targetsVersion: 2, targetsHash: ctx.v2Hash },
    ),
  );
});

afterEach(async () => {
  await t.provider.send('evm_revert', [snapshot]);
});

/** An install of fw[index] whose trusted block is the current head (after any recall or floor). */
async function laterInstall(c: Ctx, index: number, odometerKm: number): Promise<unknown> {
  const head = await c.t.provider.getBlock('latest');
  const fw = c.fw[index - 1]!;
  return installBundle(
    c.vehicle,
    { name: fw.name, digest: sha256(fw.bytes), releaseCounter: fw.releaseCounter },
    { targetsVersion: 2, targetsHash: c.v2Hash },
    {
      counter: 7,
      odometerKm,
      finishedAt: new Date(Date.now() + 5000).toISOString(),
      checkpoint: {
        chainId: c.t.chain.chainId,
        blockNumber: head!.number,
        blockHash: head!.hash!,
        timestamp: head!.timestamp,
      },
    },
  );
}

async function audit(extra: Partial<AuditOptions> = {}) {
  const chain = new ChainReader({
    rpcUrls: [t.chain.rpcUrl],
    quorum: 1,
    confirmations: 1,
    contractAddress: t.address,
    fromBlock: t.deployBlock,
  });
  try {
    return await auditRepository({
      chain,
      source: createHttpAuditSource(server.url),
      trustedRoot: JSON.parse(Buffer.from(repo.roots.get(1)!).toString('utf8')),
      vehicleCaPem: ctx.ca.certificatePem,
      ...extra,
    });
  } finally {
    chain.destroy();
  }
}

describe('auditRepository', () => {
  describe('when the chain, the served history and the attestations agree', () => {
    it('reports no finding and counts what it verified', async () => {
      const report = await audit();
      expect(report.findings.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
      expect(report.stats).toMatchObject({
        releasesLogged: 2,
        targetsVersionsServed: 2,
        targetsVerified: 2,
        installsVerified: 1,
        vehicles: 1,
      });
    });

    it('follows a root rotation signed by old and new root keys', async () => {
      const newRoot = newSigner();
      const newTargets = newSigner();
      const root2 = signedRoot({ version: 2, root: [newRoot], targets: [newTargets] });
      repo.roots.set(2, await rootBytes(root2, [ctx.rootSigner, newRoot]));
      await ctx.publish(3, [ctx.fw[2]!], [newTargets]);
      const report = await audit();
      expect(report.findings.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
      expect(report.stats.rootVersions).toBe(2);
    });
  });

  const attacks: { desc: string; tamper: (c: Ctx) => Promise<void>; wantCode: string }[] = [
    {
      desc: 'the server serves a targets version that was never logged',
      tamper: async (c) => void (await c.publish(3, [c.fw[2]!], undefined, { log: false })),
      wantCode: 'METADATA_NOT_LOGGED',
    },
    {
      desc: 'the served bytes of a version differ from the logged hash',
      tamper: async (c) =>
        void c.repo.targets.set(2, await signedTargets(2, [c.fw[1]!], [c.targetsSigner])),
      wantCode: 'METADATA_HASH_MISMATCH',
    },
    {
      desc: 'a logged release is signed by a key the root never trusted',
      tamper: async (c) => void (await c.publish(3, [c.fw[2]!], [newSigner()])),
      wantCode: 'TARGETS_SIGNATURE_INVALID',
    },
    {
      desc: 'a logged release is not served',
      tamper: async (c) => void (await c.publish(3, [c.fw[2]!], undefined, { serve: false })),
      wantCode: 'RELEASE_NOT_SERVED',
    },
    {
      desc: 'a new firmware target is missing from the chain entry',
      tamper: async (c) => {
        const bytes = await signedTargets(3, [c.fw[2]!], [c.targetsSigner]);
        await c.writer.logRelease({
          metadataVersion: 3,
          metadataHash: sha256Hex(bytes),
          firmware: [],
        });
        c.repo.targets.set(3, bytes);
      },
      wantCode: 'FIRMWARE_NOT_LOGGED',
    },
    {
      desc: 'a root rotation is signed by the new root keys only',
      tamper: async (c) => {
        const newRoot = newSigner();
        c.repo.roots.set(
          2,
          await rootBytes(signedRoot({ version: 2, root: [newRoot], targets: [c.targetsSigner] }), [
            newRoot,
          ]),
        );
      },
      wantCode: 'ROOT_ROTATION_INVALID',
    },
    {
      desc: 'a vehicle installed firmware that was never logged',
      tamper: async (c) => {
        c.repo.attestations.push(
          await installBundle(
            c.vehicle,
            { name: 'evil.bin', digest: randomBytes(32).toString('hex'), releaseCounter: 9 },
            { targetsVersion: 2, targetsHash: c.v2Hash },
            { counter: 2 },
          ),
        );
      },
      wantCode: 'INSTALLED_DIGEST_NOT_LOGGED',
    },
    {
      desc: "a vehicle's odometer goes down",
      tamper: async (c) => {
        c.repo.attestations.push(
          await installBundle(
            c.vehicle,
            { name: c.fw[1]!.name, digest: sha256(c.fw[1]!.bytes), releaseCounter: 2 },
            { targetsVersion: 2, targetsHash: c.v2Hash },
            { counter: 2, odometerKm: 400, finishedAt: new Date(Date.now() + 1000).toISOString() },
          ),
        );
      },
      wantCode: 'ODOMETER_DECREASED',
    },
    {
      desc: 'an attestation comes from a vehicle of another CA',
      tamper: async (c) => {
        const rogueCa = await createVehicleCa({ commonName: 'rogue CA' });
        const rogue = await createVehicleIdentity(rogueCa, {
          vin: 'WVWZZZ1JZXW000002',
          ecuSerial: 'ECU-0002',
        });
        c.repo.attestations.push(
          await installBundle(
            rogue,
            { name: c.fw[1]!.name, digest: sha256(c.fw[1]!.bytes), releaseCounter: 2 },
            { targetsVersion: 2, targetsHash: c.v2Hash },
          ),
        );
      },
      wantCode: 'VEHICLE_CERTIFICATE_INVALID',
    },
    {
      desc: 'an attestation payload was edited after signing',
      tamper: (c) => {
        const bundle = structuredClone(c.repo.attestations[0]) as {
          dsseEnvelope: { payload: string };
        };
        const stmt = JSON.parse(
          Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'),
        ) as { predicate: { odometerKm: number } };
        stmt.predicate.odometerKm = 1;
        bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(stmt)).toString('base64');
        c.repo.attestations.push(bundle);
        return Promise.resolve();
      },
      wantCode: 'ATTESTATION_SIGNATURE_INVALID',
    },
    {
      desc: 'a vehicle installed firmware after its recall was on chain',
      tamper: async (c) => {
        const tx = (await c.t.asPublisher.getFunction('recall')(
          '0x' + sha256(c.fw[1]!.bytes),
          'brake regression',
        )) as ContractTransactionResponse;
        await tx.wait();
        c.repo.attestations.push(await laterInstall(c, 2, 2000));
      },
      wantCode: 'RECALLED_FIRMWARE_INSTALLED',
    },
    {
      desc: 'a vehicle installed a release below the on-chain minimum version',
      tamper: async (c) => {
        const tx = (await c.t.asPublisher.getFunction('setMinimumVersion')(
          hardwareIdHash('ecu-brake-v1'),
          3n,
        )) as ContractTransactionResponse;
        await tx.wait();
        c.repo.attestations.push(await laterInstall(c, 2, 2000));
      },
      wantCode: 'INSTALL_BELOW_MINIMUM_VERSION',
    },
    {
      desc: 'a release after a key rotation is signed only by the rotated-out targets key',
      tamper: async (c) => {
        const newRoot = newSigner();
        const newTargets = newSigner();
        const root2 = signedRoot({ version: 2, root: [newRoot], targets: [newTargets] });
        c.repo.roots.set(2, await rootBytes(root2, [c.rootSigner, newRoot]));
        await c.publish(3, [c.fw[2]!], [newTargets]);
        await c.publish(4, [c.fw[2]!], [c.targetsSigner]);
      },
      wantCode: 'TARGETS_SIGNED_BY_ROTATED_KEYS',
    },
  ];

  it('only warns about an install that happened before its firmware was recalled', async () => {
    const tx = (await ctx.t.asPublisher.getFunction('recall')(
      '0x' + sha256(ctx.fw[1]!.bytes),
      'brake regression',
    )) as ContractTransactionResponse;
    await tx.wait();
    const report = await audit();
    expect(report.findings.map((f) => [f.code, f.severity])).toEqual([
      ['INSTALLED_BEFORE_RECALL', 'warning'],
    ]);
  });

  for (const { desc, tamper, wantCode } of attacks) {
    it(`reports ${wantCode} when ${desc}`, async () => {
      await tamper(ctx);
      const report = await audit();
      expect(report.findings.map((f) => f.code)).toContain(wantCode);
    });
  }

  describe('tufchain audit (CLI)', () => {
    async function cli(extra: string[] = []) {
      const dir = await mkdtemp(join(tmpdir(), 'tufchain-audit-'));
      await writeFile(join(dir, 'root.json'), repo.roots.get(1)!);
      await writeFile(join(dir, 'ca.pem'), ctx.ca.certificatePem);
      const out: string[] = [];
      const code = await runAuditCli(
        [
          '--server',
          server.url,
          '--rpc',
          t.chain.rpcUrl,
          '--contract',
          t.address,
          '--trusted-root',
          join(dir, 'root.json'),
          '--vehicle-ca',
          join(dir, 'ca.pem'),
          ...extra,
        ],
        { stdout: (l) => out.push(l), stderr: (l) => out.push(l) },
      );
      await rm(dir, { recursive: true });
      return { code, out: out.join('\n') };
    }

    it('exits 0 on a clean history and 1 with JSON findings after an unlogged release', async () => {
      expect((await cli()).code).toBe(0);
      await ctx.publish(3, [ctx.fw[2]!], undefined, { log: false });
      const { code, out } = await cli(['--json']);
      expect(code).toBe(1);
      expect(
        (JSON.parse(out) as { findings: { code: string }[] }).findings.map((f) => f.code),
      ).toContain('METADATA_NOT_LOGGED');
    });

    it('exits 2 on a usage error', async () => {
      const out: string[] = [];
      expect(
        await runAuditCli(['--server'], { stdout: (l) => out.push(l), stderr: (l) => out.push(l) }),
      ).toBe(2);
    });
  });
});

describe('auditRepository with the transparency log', () => {
  let dir: string;
  let db: DatabaseSync;
  let log: TransparencyLog;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const logSigner = createNoteSigner('tufchain.test/log', privateKey);
  const logVerifier = createNoteVerifier('tufchain.test/log', publicKey);

  const newLog = (path: string) => {
    const d = openLogDatabase(path);
    return {
      db: d,
      log: new TransparencyLog({
        storage: new SqliteLogStorage(d),
        origin: 'tufchain.test/log',
        signers: [logSigner],
      }),
    };
  };
  const anchorer = () =>
    new AnchorService({
      log,
      db,
      signer: t.operator,
      contractAddress: t.address,
      config: { confirmations: 1, pollIntervalMs: 20 },
    });
  const withLog = (source: LogAuditSource = createLocalLogAuditSource(log)) => ({
    log: { source, verifiers: [logVerifier], origin: 'tufchain.test/log' },
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-audit-log-'));
    ({ db, log } = newLog(join(dir, 'log.sqlite')));
    const releases = await new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: t.address,
      fromBlock: t.deployBlock,
    }).releases();
    log.append(
      ...releases.map((r) => ({
        type: 'release' as const,
        metadataVersion: r.metadataVersion,
        metadataHash: r.metadataHash,
        firmware: [],
      })),
      { type: 'install-attestation', bundle: repo.attestations[0] },
    );
    await anchorer().anchorNow();
  });

  afterEach(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports no finding when every checkpoint and anchor is a root of the served log', async () => {
    const report = await audit(withLog());
    expect(report.findings.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
    expect(report.stats).toMatchObject({
      logEntries: 3,
      checkpointsVerified: 1,
      anchorsVerified: 1,
    });
    expect(report.installs[0]?.logIndex).toBe(2);
  });

  const attacks: {
    desc: string;
    tamper: () => Promise<LogAuditSource | void>;
    wantCode: string;
  }[] = [
    {
      desc: 'an install attestation was never appended to the log',
      tamper: async () => {
        repo.attestations.push(
          await installBundle(
            ctx.vehicle,
            { name: ctx.fw[1]!.name, digest: sha256(ctx.fw[1]!.bytes), releaseCounter: 2 },
            { targetsVersion: 2, targetsHash: ctx.v2Hash },
            { counter: 5, odometerKm: 2000 },
          ),
        );
      },
      wantCode: 'ATTESTATION_NOT_IN_LOG',
    },
    {
      desc: 'the log serves a split view: a second checkpoint for another history',
      tamper: async () => {
        const fork = newLog(join(dir, 'fork.sqlite'));
        fork.log.append(
          { type: 'recall', subject: '0x' + '11'.repeat(32), reason: 'fork' },
          { type: 'recall', subject: '0x' + '12'.repeat(32), reason: 'fork' },
          { type: 'recall', subject: '0x' + '13'.repeat(32), reason: 'fork' },
        );
        const forkNote = (await fork.log.checkpoint()).note;
        fork.db.close();
        const honest = createLocalLogAuditSource(log);
        return {
          checkpoints: async () => [...(await honest.checkpoints()), forkNote],
          entries: honest.entries,
        };
      },
      wantCode: 'CHECKPOINT_INCONSISTENT',
    },
    {
      desc: 'the log serves entries that differ from the anchored ones',
      tamper: () => {
        const honest = createLocalLogAuditSource(log);
        return Promise.resolve({
          checkpoints: () => Promise.resolve([]),
          entries: async (a: number, b: number) =>
            (await honest.entries(a, b)).map((e, i) =>
              a + i === 0 ? new Uint8Array(Buffer.from('{"type":"recall"}')) : e,
            ),
        });
      },
      wantCode: 'ANCHOR_ROOT_MISMATCH',
    },
    {
      desc: 'the log withholds anchored entries',
      tamper: () => {
        const honest = createLocalLogAuditSource(log);
        return Promise.resolve({
          checkpoints: honest.checkpoints,
          entries: async (a: number, b: number) =>
            a >= 1 ? [] : (await honest.entries(a, b)).slice(0, 1),
        });
      },
      wantCode: 'LOG_BEHIND_ANCHOR',
    },
    {
      desc: 'a checkpoint is signed by a key the auditor does not trust',
      tamper: async () => {
        const rogue = createNoteSigner(
          'tufchain.test/log',
          generateKeyPairSync('ed25519').privateKey,
        );
        const note = await signCheckpoint(
          { origin: 'tufchain.test/log', size: 3, rootHash: log.root(3), extensions: [] },
          [rogue],
        );
        const honest = createLocalLogAuditSource(log);
        return {
          checkpoints: async () => [...(await honest.checkpoints()), note],
          entries: honest.entries,
        };
      },
      wantCode: 'CHECKPOINT_SIGNATURE_INVALID',
    },
    {
      desc: 'the log states a release the chain never logged',
      tamper: async () => {
        log.append({
          type: 'release',
          metadataVersion: 9,
          metadataHash: '0x' + '99'.repeat(32),
          firmware: [],
        });
        await anchorer().anchorNow();
      },
      wantCode: 'LOG_RELEASE_NOT_ON_CHAIN',
    },
  ];
  for (const { desc, tamper, wantCode } of attacks) {
    it(`reports ${wantCode} when ${desc}`, async () => {
      const source = await tamper();
      const report = await audit(withLog(source ?? undefined));
      expect(report.findings.map((f) => f.code)).toContain(wantCode);
    });
  }

  describe('vehicle audit packs', () => {
    async function pack(): Promise<VehicleAuditPack> {
      const report = await audit(withLog());
      const service = anchorer();
      const packs = await createVehicleAuditPacks(report, {
        vehicleCaPem: ctx.ca.certificatePem,
        contractAddress: t.address,
        chainId: t.chain.chainId,
        proofBundle: async (inst) => {
          const anchor = service.anchorCovering(inst.logIndex!);
          return (
            anchor &&
            createProofBundle({
              log,
              index: inst.logIndex!,
              anchor,
              chainId: t.chain.chainId,
              contractAddress: t.address,
            })
          );
        },
      });
      expect(packs.size).toBe(1);
      const file = join(dir, 'pack.json');
      await writeVehicleAuditPack(file, [...packs.values()][0]!);
      return JSON.parse(await readFile(file, 'utf8')) as VehicleAuditPack;
    }

    it('writes one file per vehicle that verifies offline, then against the chain', async () => {
      const p = await pack();
      expect(p.vehicle.commitment).toBe(ctx.vehicle.vinCommitment.replace(/^0x/, '').toLowerCase());
      expect(JSON.stringify(p)).not.toContain('WVWZZZ1JZXW000001');
      const offline = await verifyVehicleAuditPack(p, {
        vehicleCaPem: ctx.ca.certificatePem,
        logVerifiers: [logVerifier],
      });
      expect(offline).toMatchObject([
        { digest: '0x' + sha256(ctx.fw[1]!.bytes), logIndex: 2, result: 'SUCCESS' },
      ]);
      const chain = new ChainReader({
        rpcUrls: [t.chain.rpcUrl],
        quorum: 1,
        confirmations: 1,
        contractAddress: t.address,
        chainId: t.chain.chainId,
        fromBlock: t.deployBlock,
      });
      expect(
        await verifyVehicleAuditPack(p, {
          vehicleCaPem: ctx.ca.certificatePem,
          logVerifiers: [logVerifier],
          chain,
        }),
      ).toHaveLength(1);
      chain.destroy();
    });

    const packAttacks: {
      desc: string;
      tamper: (p: VehicleAuditPack) => unknown;
      wantCode: string;
    }[] = [
      {
        desc: 'another vehicle commitment',
        tamper: (p) => ({ ...p, vehicle: { commitment: 'ab'.repeat(32) } }),
        wantCode: 'AUDIT_PACK_INVALID',
      },
      {
        desc: 'a proof bundle of another entry',
        tamper: (p) => ({
          ...p,
          installs: p.installs.map((i) => ({
            ...i,
            proofBundle: {
              ...i.proofBundle!,
              entry: { index: 0, data: i.proofBundle!.entry.data },
            },
          })),
        }),
        wantCode: 'INCLUSION_PROOF_INVALID',
      },
      {
        desc: 'a truncated document',
        tamper: (p) => ({ ...p, installs: 'none' }),
        wantCode: 'MALFORMED_AUDIT_PACK',
      },
    ];
    for (const { desc, tamper, wantCode } of packAttacks) {
      it(`throws ${wantCode} for ${desc}`, async () => {
        const bad = tamper(await pack());
        const err = await verifyVehicleAuditPack(bad, {
          vehicleCaPem: ctx.ca.certificatePem,
          logVerifiers: [logVerifier],
        }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(TransparencyError);
        expect((err as TransparencyError).code).toBe(wantCode);
      });
    }
  });
});

describe('tufchain audit (CLI) with the log served over HTTP by LogService', () => {
  let dir: string;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const logSigner = createNoteSigner('tufchain.test/log', privateKey);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-audit-cli-'));
    logService = new LogService({
      database: join(dir, 'log.sqlite'),
      origin: 'tufchain.test/log',
      signers: [logSigner],
      anchoring: {
        signer: t.operator,
        contractAddress: t.address,
        chainId: t.chain.chainId,
        config: { confirmations: 1, pollIntervalMs: 20 },
      },
    });
    const chain = new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: t.address,
      fromBlock: t.deployBlock,
    });
    for (const r of await chain.releases())
      logService.appendRelease(
        { metadataVersion: r.metadataVersion, metadataHash: r.metadataHash, firmware: [] },
        r,
      );
    chain.destroy();
    logService.appendInstallAttestation(repo.attestations[0]);
    await logService.anchors!.anchorNow();
  });

  afterEach(async () => {
    await logService?.close();
    logService = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('replays the log, exits 0 and writes an audit pack per vehicle with its proof bundle', async () => {
    await writeFile(join(dir, 'root.json'), repo.roots.get(1)!);
    await writeFile(join(dir, 'ca.pem'), ctx.ca.certificatePem);
    const out: string[] = [];
    const code = await runAuditCli(
      [
        '--server',
        server.url,
        '--rpc',
        t.chain.rpcUrl,
        '--contract',
        t.address,
        '--chain-id',
        String(t.chain.chainId),
        '--trusted-root',
        join(dir, 'root.json'),
        '--vehicle-ca',
        join(dir, 'ca.pem'),
        '--json',
        '--log-key',
        formatVerifierKey('tufchain.test/log', publicKey),
        '--log-origin',
        'tufchain.test/log',
        '--audit-pack-dir',
        join(dir, 'packs'),
      ],
      { stdout: (l) => out.push(l), stderr: () => undefined },
    );
    const report = JSON.parse(out.join('\n')) as {
      findings: { code: string; message: string }[];
      stats: Record<string, number>;
    };
    expect(report.findings.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
    expect(code).toBe(0);
    expect(report.stats).toMatchObject({
      logEntries: 3,
      checkpointsVerified: 1,
      anchorsVerified: 1,
    });
    const commitment = ctx.vehicle.vinCommitment.replace(/^0x/, '').toLowerCase();
    const pack = JSON.parse(
      await readFile(join(dir, 'packs', `${commitment}.json`), 'utf8'),
    ) as VehicleAuditPack;
    expect(pack.installs[0]?.proofBundle).not.toBeNull();
    const chain = new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: t.address,
      chainId: t.chain.chainId,
      fromBlock: t.deployBlock,
    });
    const verified = await verifyVehicleAuditPack(pack, {
      vehicleCaPem: ctx.ca.certificatePem,
      logVerifiers: [createNoteVerifier('tufchain.test/log', publicKey)],
      origin: 'tufchain.test/log',
      chain,
    });
    chain.destroy();
    expect(verified).toHaveLength(1);
  });

  it('answers the log routes with INVALID_RANGE / ENTRY_NOT_FOUND for bad input', async () => {
    const codeOfSync = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as TransparencyError).code;
      }
      return 'NO_ERROR';
    };
    expect(codeOfSync(() => logService!.entries(2, 99))).toBe('INVALID_RANGE');
    expect(codeOfSync(() => logService!.entries(-1, 1))).toBe('INVALID_RANGE');
    const err = await logService!.proofBundle(99).catch((e: unknown) => e);
    expect((err as TransparencyError).code).toBe('ENTRY_NOT_FOUND');
    expect(logService!.entries(0, 3).entries).toHaveLength(3);
  });
});
