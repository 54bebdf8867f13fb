import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContractTransactionResponse } from 'ethers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Metadata, MetadataKind, type Snapshot } from '@tufjs/models';
import { canonicalize } from '@tufjs/canonical-json';
import {
  createVehicleCa,
  createVehicleIdentity,
  signMetadata,
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
  AnchorService,
  createLocalLogAuditSource,
  createNoteSigner,
  createNoteVerifier,
  createProofBundle,
  createVehicleAuditPacks,
  openLogDatabase,
  signCheckpoint,
  SqliteAnchorOutbox,
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
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';
import { AuditRepo, sha256Hex0x, type Firmware, type Supplier } from './helpers/audit-repo.js';
import { installBundle, newSigner, rootBytes, sha256, signedRoot } from './helpers/tuf-repo.js';

interface Keys {
  root: Signer;
  targets: Signer;
  bins: Signer;
  build: Signer;
}

interface Ctx {
  t: TestChain;
  writer: ReleaseLogWriter;
  keys: Keys;
  suppliers: Supplier[];
  vehicle: VehicleIdentity;
  ca: VehicleCa;
  /** OEM firmware (in the hashed bins); fw[2] is not published by the fixture. */
  fw: Firmware[];
  /** Firmware of supplier "acme" (role supplier-acme). */
  supplierFw: Firmware;
  /** The snapshot the fixture's vehicle trusted when it installed fw[1]. */
  trusted: { version: number; hash: string };
}

const HW = 'ecu-brake-v1';
const ACME_HW = 'acme-cam-v1';
const ZETA_HW = 'zeta-radar-v2';

let t: TestChain;
let repo: AuditRepo;
let server: { url: string; close(): Promise<void> };
let snapshot: string;
let logService: LogService | undefined;
const ctx = {} as Ctx;

const firmware = (name: string, releaseCounter: number, hardwareIds = [HW]): Firmware => ({
  name,
  bytes: randomBytes(256),
  hardwareIds,
  releaseCounter,
});

const newRepo = () =>
  new AuditRepo(ctx.keys, ctx.writer, { bitLength: 3, suppliers: ctx.suppliers });

beforeAll(async () => {
  t = await startTestChain();
  ctx.t = t;
  ctx.writer = new ReleaseLogWriter({
    signer: t.publisher,
    contractAddress: t.address,
    confirmations: 1,
    pollIntervalMs: 50,
  });
  ctx.keys = { root: newSigner(), targets: newSigner(), bins: newSigner(), build: newSigner() };
  ctx.suppliers = [
    { id: 'acme', hardwareIds: [ACME_HW], signer: newSigner() },
    { id: 'zeta', hardwareIds: [ZETA_HW], signer: newSigner() },
  ];
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
  ctx.supplierFw = firmware(`${ACME_HW}/cam-4.0.0.bin`, 4, [ACME_HW]);
});

afterAll(async () => {
  await t?.stop();
});

beforeEach(async () => {
  snapshot = (await t.provider.send('evm_snapshot', [])) as string;
  repo = newRepo();
  await repo.init();
  await repo.publish();
  await repo.addFirmware(ctx.fw[0]!);
  await repo.publish();
  await repo.addFirmware(ctx.fw[1]!);
  await repo.addFirmware(ctx.supplierFw);
  const s3 = await repo.publish();
  ctx.trusted = { version: s3.version, hash: s3.hash };
  repo.attestations.push(
    await installBundle(
      ctx.vehicle,
      { name: ctx.fw[1]!.name, digest: sha256(ctx.fw[1]!.bytes), releaseCounter: 2 },
      { targetsVersion: s3.version, targetsHash: s3.hash },
    ),
  );
  server = await repo.serve(() => logService);
});

afterEach(async () => {
  await server.close();
  await t.provider.send('evm_revert', [snapshot]);
});

/** An install of fw[index] whose trusted block is the current head (after any recall or floor). */
async function laterInstall(c: Ctx, index: number, odometerKm: number): Promise<unknown> {
  const head = await c.t.provider.getBlock('latest');
  const fw = c.fw[index - 1]!;
  return installBundle(
    c.vehicle,
    { name: fw.name, digest: sha256(fw.bytes), releaseCounter: fw.releaseCounter },
    { targetsVersion: c.trusted.version, targetsHash: c.trusted.hash },
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

/** A report of the second release's firmware, finished a second from now. */
function secondInstall(
  c: Ctx,
  report: { counter: number; odometerKm: number },
  metadata = { targetsVersion: c.trusted.version, targetsHash: c.trusted.hash },
): Promise<unknown> {
  return installBundle(
    c.vehicle,
    { name: c.fw[1]!.name, digest: sha256(c.fw[1]!.bytes), releaseCounter: 2 },
    metadata,
    { ...report, finishedAt: new Date(Date.now() + 1000).toISOString() },
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
      firmwareKey: { publicKeyPem: ctx.keys.build.publicKeyPem(), keyId: ctx.keys.build.keyId },
      ...extra,
    });
  } finally {
    chain.destroy();
  }
}

/** Re-signs a served snapshot in place after `mutate` (bytes differ from what the chain logged). */
async function resignSnapshot(version: number, mutate: (signed: Record<string, unknown>) => void) {
  const json = JSON.parse(Buffer.from(repo.files.get(`${version}.snapshot`)!).toString('utf8')) as {
    signed: Record<string, unknown>;
  };
  mutate(json.signed);
  let md: Metadata<Snapshot> = Metadata.fromJSON(MetadataKind.Snapshot, {
    signed: json.signed,
    signatures: [],
  } as never);
  md = await signMetadata(md, ctx.keys.targets);
  repo.files.set(`${version}.snapshot`, new Uint8Array(Buffer.from(JSON.stringify(md.toJSON()))));
}

/** Replaces a served role file at its current version with `role` re-signed by `signers`. */
async function resignInPlace(role: string, signers?: Signer[]) {
  const draft = repo.roles.get(role)!;
  repo.files.set(`${draft.version}.${role}`, await repo.signRole(role, draft.version, signers));
}

const codes = (report: { findings: { code: string; message: string }[] }) =>
  report.findings.map((f) => `${f.code}: ${f.message}`);

describe('auditRepository (repository layout v2)', () => {
  describe('when the chain, the served history and the attestations agree', () => {
    it('reports no finding, walks every role once and checks every firmware bundle', async () => {
      const report = await audit();
      expect(codes(report)).toEqual([]);
      const roleFiles = [...repo.files.keys()].filter((k) => !k.endsWith('.snapshot')).length;
      expect(report.stats).toMatchObject({
        releasesLogged: 3,
        snapshotVersionsServed: 3,
        snapshotsVerified: 3,
        // targets, bins, 8 bins, 2 suppliers at v1, then the bins and supplier that changed
        roleVersionsParsed: roleFiles,
        roleVersionsVerified: roleFiles,
        firmwareTargets: 3,
        firmwareAttestationsVerified: 3,
        installsVerified: 1,
        vehicles: 1,
      });
    });

    it('re-verifies the hashed bins against a re-signed bins role without parsing them again', async () => {
      const bins = repo.roles.get('bins')!;
      bins.dirty = true;
      await repo.publish();
      const report = await audit();
      expect(codes(report)).toEqual([]);
      const roleFiles = [...repo.files.keys()].filter((k) => !k.endsWith('.snapshot')).length;
      expect(report.stats.roleVersionsParsed).toBe(roleFiles);
      // bins v2 and its 8 bins against it
      expect(report.stats.roleVersionsVerified).toBe(roleFiles + 8);
    });

    it('follows a root rotation signed by old and new root keys', async () => {
      const newRoot = newSigner();
      const newTargets = newSigner();
      const root2 = signedRoot({ version: 2, root: [newRoot], targets: [newTargets] });
      repo.roots.set(2, await rootBytes(root2, [ctx.keys.root, newRoot]));
      repo.roles.get('targets')!.signers = [newTargets];
      repo.roles.get('targets')!.dirty = true;
      await repo.addFirmware(ctx.fw[2]!);
      await repo.publish({ snapshotSigners: [newTargets] });
      const report = await audit();
      expect(codes(report)).toEqual([]);
      expect(report.stats.rootVersions).toBe(2);
    });

    it('accepts a firmware target listed directly in top-level targets', async () => {
      await repo.addFirmware(ctx.fw[2]!, { role: 'targets', bundleRole: 'targets' });
      await repo.publish();
      expect(codes(await audit())).toEqual([]);
    });
  });

  /** alsoCodes: the other findings the same tampering necessarily causes. */
  const attacks: {
    desc: string;
    tamper: (c: Ctx) => Promise<void>;
    wantCode: string;
    alsoCodes?: string[];
  }[] = [
    {
      desc: 'the server serves a snapshot that was never logged',
      tamper: async (c) => {
        await repo.addFirmware(c.fw[2]!);
        await repo.publish({ log: false });
      },
      wantCode: 'METADATA_NOT_LOGGED',
      // and the timestamp every vehicle starts from points at it
      alsoCodes: ['TIMESTAMP_SNAPSHOT_NOT_LOGGED'],
    },
    {
      desc: 'the served bytes of a snapshot differ from the logged hash',
      tamper: () => resignSnapshot(2, (s) => void (s.expires = '2098-01-01T00:00:00Z')),
      wantCode: 'METADATA_HASH_MISMATCH',
    },
    {
      desc: 'a logged snapshot is not served',
      tamper: async () => void (await repo.publish({ serve: false })),
      wantCode: 'RELEASE_NOT_SERVED',
    },
    {
      desc: 'a snapshot is signed by a key the root never trusted',
      tamper: async () => void (await repo.publish({ snapshotSigners: [newSigner()] })),
      wantCode: 'SNAPSHOT_SIGNATURE_INVALID',
    },
    {
      desc: 'top-level targets is signed by a key the root never trusted',
      tamper: async () => {
        repo.roles.get('targets')!.signers = [newSigner()];
        repo.roles.get('targets')!.dirty = true;
        await repo.publish();
      },
      wantCode: 'TARGETS_SIGNATURE_INVALID',
    },
    {
      desc: 'a bin is re-signed in place (same version) with a digest that is not on chain',
      tamper: async () => {
        const bin = repo.binFor(ctx.fw[1]!.name);
        let i = 0;
        while (repo.binFor(`evil-${i}.bin`) !== bin) i++;
        const evil = firmware(`evil-${i}.bin`, 9);
        await repo.addFirmware(evil);
        await resignInPlace(bin);
        await resignInPlace(repo.binFor(`${evil.name}.sigstore.json`));
      },
      wantCode: 'FIRMWARE_NOT_LOGGED',
    },
    {
      desc: 'a new bin version adds firmware the chain entry does not list',
      tamper: async (c) => {
        await repo.addFirmware(c.fw[2]!);
        await repo.publish({ firmware: [] });
      },
      wantCode: 'FIRMWARE_NOT_LOGGED',
    },
    {
      desc: 'a bin is signed by a key the bins role does not delegate to',
      tamper: async (c) => {
        await repo.addFirmware(c.fw[2]!);
        repo.roles.get(repo.binFor(c.fw[2]!.name))!.signers = [newSigner()];
        await repo.publish();
      },
      wantCode: 'DELEGATE_SIGNATURE_INVALID',
      // no client can fetch the logged firmware through a bin that does not verify
      alsoCodes: ['LOGGED_FIRMWARE_NOT_SERVED'],
    },
    {
      desc: "a supplier signs firmware for another supplier's hardware ID under its own path",
      tamper: async () => {
        await repo.addFirmware(firmware(`${ACME_HW}/radar-evil.bin`, 5, [ZETA_HW]));
        await repo.publish();
      },
      wantCode: 'HARDWARE_ID_NOT_DELEGATED',
    },
    {
      desc: "a supplier lists a target under another supplier's path",
      tamper: async () => {
        await repo.addFirmware(firmware(`${ZETA_HW}/radar-evil.bin`, 5, [ZETA_HW]), {
          role: 'supplier-acme',
          bundleRole: 'supplier-acme',
        });
        await repo.publish();
      },
      wantCode: 'TARGET_PATH_NOT_DELEGATED',
      // no client resolves it through supplier-acme, yet the chain entry logs it
      alsoCodes: ['LOGGED_FIRMWARE_NOT_SERVED'],
    },
    {
      desc: "a supplier's role is signed by the other supplier's key",
      tamper: async () => {
        await repo.addFirmware(firmware(`${ZETA_HW}/radar-5.bin`, 5, [ZETA_HW]));
        repo.roles.get('supplier-zeta')!.signers = [ctx.suppliers[0]!.signer];
        await repo.publish();
      },
      wantCode: 'DELEGATE_SIGNATURE_INVALID',
      alsoCodes: ['LOGGED_FIRMWARE_NOT_SERVED'],
    },
    {
      desc: 'a chain entry logs firmware that no served target lists',
      tamper: async () => {
        await repo.publish({
          firmware: [{ digest: '0x' + 'ab'.repeat(32), hardwareId: HW, version: 7 }],
        });
      },
      wantCode: 'LOGGED_FIRMWARE_NOT_SERVED',
    },
    {
      desc: 'the chain entry misses one hardware ID of a new firmware',
      tamper: async () => {
        const fw = firmware('brake-multi.bin', 4, [HW, 'ecu-brake-v2']);
        await repo.addFirmware(fw);
        await repo.publish({
          firmware: [{ digest: sha256Hex0x(fw.bytes), hardwareId: HW, version: 4 }],
        });
      },
      wantCode: 'FIRMWARE_HARDWARE_MISMATCH',
    },
    {
      desc: 'the chain entry logs another release counter',
      tamper: async (c) => {
        await repo.addFirmware(c.fw[2]!);
        await repo.publish({
          firmware: [{ digest: sha256Hex0x(c.fw[2]!.bytes), hardwareId: HW, version: 99 }],
        });
      },
      wantCode: 'FIRMWARE_VERSION_MISMATCH',
    },
    {
      desc: 'a snapshot pins an older version of a role than an earlier snapshot',
      tamper: async () => {
        const bin = repo.roles.get(repo.binFor(ctx.fw[1]!.name))!;
        bin.version -= 2;
        bin.dirty = true;
        await repo.publish();
      },
      wantCode: 'ROLE_VERSION_DECREASED',
      // re-signing version 1 rewrote the bin snapshots 1-2 pinned: fw[1] now appears there
      alsoCodes: ['FIRMWARE_NOT_LOGGED', 'FIRMWARE_ATTESTATION_MISSING'],
    },
    {
      desc: 'a root rotation is signed by the new root keys only',
      tamper: async () => {
        const newRoot = newSigner();
        repo.roots.set(
          2,
          await rootBytes(
            signedRoot({ version: 2, root: [newRoot], targets: [ctx.keys.targets] }),
            [newRoot],
          ),
        );
      },
      wantCode: 'ROOT_ROTATION_INVALID',
    },
    {
      desc: 'a release after a key rotation is signed only by the rotated-out targets key',
      tamper: async () => {
        const newRoot = newSigner();
        const newTargets = newSigner();
        const root2 = signedRoot({ version: 2, root: [newRoot], targets: [newTargets] });
        repo.roots.set(2, await rootBytes(root2, [ctx.keys.root, newRoot]));
        const top = repo.roles.get('targets')!;
        top.signers = [newTargets];
        top.dirty = true;
        await repo.publish({ snapshotSigners: [newTargets] });
        top.signers = [ctx.keys.targets];
        top.dirty = true;
        await repo.publish({ snapshotSigners: [newTargets] });
      },
      wantCode: 'TARGETS_SIGNED_BY_ROTATED_KEYS',
    },
    {
      desc: 'a vehicle installed firmware that was never logged',
      tamper: async (c) => {
        repo.attestations.push(
          await installBundle(
            c.vehicle,
            { name: 'evil.bin', digest: randomBytes(32).toString('hex'), releaseCounter: 9 },
            { targetsVersion: c.trusted.version, targetsHash: c.trusted.hash },
            { counter: 2 },
          ),
        );
      },
      wantCode: 'INSTALLED_DIGEST_NOT_LOGGED',
    },
    {
      desc: 'a vehicle trusted metadata that was never logged',
      tamper: async (c) => {
        const top = repo.files.get(`${repo.roles.get('targets')!.version}.targets`)!;
        repo.attestations.push(
          // the top-level targets hash: what layout v1 logged, no longer on chain
          await secondInstall(
            c,
            { counter: 2, odometerKm: 1500 },
            { targetsVersion: c.trusted.version, targetsHash: sha256Hex0x(top) },
          ),
        );
      },
      wantCode: 'INSTALL_METADATA_NOT_LOGGED',
    },
    {
      desc: "a vehicle's odometer goes down",
      tamper: async (c) => {
        repo.attestations.push(await secondInstall(c, { counter: 2, odometerKm: 400 }));
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
        repo.attestations.push(
          await installBundle(
            rogue,
            { name: c.fw[1]!.name, digest: sha256(c.fw[1]!.bytes), releaseCounter: 2 },
            { targetsVersion: c.trusted.version, targetsHash: c.trusted.hash },
          ),
        );
      },
      wantCode: 'VEHICLE_CERTIFICATE_INVALID',
    },
    {
      desc: 'an attestation payload was edited after signing',
      tamper: () => {
        const bundle = structuredClone(repo.attestations[0]) as {
          dsseEnvelope: { payload: string };
        };
        const stmt = JSON.parse(
          Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'),
        ) as { predicate: { odometerKm: number } };
        stmt.predicate.odometerKm = 1;
        bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(stmt)).toString('base64');
        repo.attestations.push(bundle);
        return Promise.resolve();
      },
      wantCode: 'ATTESTATION_SIGNATURE_INVALID',
    },
    {
      desc: 'a vehicle installed firmware after its recall was on chain',
      tamper: async (c) => {
        const tx = (await c.t.connect().getFunction('recall')(
          '0x' + sha256(c.fw[1]!.bytes),
          'brake regression',
        )) as ContractTransactionResponse;
        await tx.wait();
        repo.attestations.push(await laterInstall(c, 2, 2000));
      },
      wantCode: 'RECALLED_FIRMWARE_INSTALLED',
      alsoCodes: ['INSTALLED_BEFORE_RECALL'],
    },
    {
      desc: 'a vehicle installed a release below the on-chain minimum version',
      tamper: async (c) => {
        const tx = (await c.t.connect().getFunction('setMinimumVersion')(
          hardwareIdHash(HW),
          3n,
        )) as ContractTransactionResponse;
        await tx.wait();
        repo.attestations.push(await laterInstall(c, 2, 2000));
      },
      wantCode: 'INSTALL_BELOW_MINIMUM_VERSION',
    },
    {
      desc: 'a vehicle signed two different reports with the same counter',
      tamper: async (c) => {
        repo.attestations.push(
          // the fixture's report has counter 1 too
          await secondInstall(c, { counter: 1, odometerKm: 1200 }),
        );
      },
      wantCode: 'ATTESTATION_COUNTER_REUSED',
    },
  ];

  it.each([
    {
      desc: 'an extra field',
      replay: (b: Record<string, unknown>) => ({ ...b, replayed: '\u0001' }),
    },
    {
      desc: 'a DSSE keyid',
      replay: (b: Record<string, unknown>) => {
        const copy = structuredClone(b) as { dsseEnvelope: { signatures: { keyid?: string }[] } };
        copy.dsseEnvelope.signatures[0]!.keyid = 'replayed';
        return copy;
      },
    },
  ])(
    'only warns ATTESTATION_DUPLICATED, and reports no counter reuse by the vehicle, when the server lists its signed report again with $desc',
    async ({ replay }) => {
      repo.attestations.push(replay(repo.attestations[0] as Record<string, unknown>));
      const report = await audit();
      expect(report.findings.map((f) => [f.code, f.severity])).toEqual([
        ['ATTESTATION_DUPLICATED', 'warning'],
      ]);
    },
  );

  it('only warns about an install that happened before its firmware was recalled', async () => {
    const tx = (await ctx.t.connect().getFunction('recall')(
      '0x' + sha256(ctx.fw[1]!.bytes),
      'brake regression',
    )) as ContractTransactionResponse;
    await tx.wait();
    const report = await audit();
    expect(report.findings.map((f) => [f.code, f.severity])).toEqual([
      ['INSTALLED_BEFORE_RECALL', 'warning'],
    ]);
  });

  for (const { desc, tamper, wantCode, alsoCodes = [] } of attacks) {
    it(`reports ${wantCode} when ${desc}`, async () => {
      await tamper(ctx);
      const report = await audit();
      expect(new Set(report.findings.map((f) => f.code))).toEqual(
        new Set([wantCode, ...alsoCodes]),
      );
    });
  }

  describe('when the history began in the flat layout (top-level targets logged)', () => {
    let flat: AuditRepo;
    let flatChain: { address: string; deployBlock: number };
    beforeEach(async () => {
      // Its own contract: the fixture above already logged versions 1-3 on this one.
      const { address, deployBlock } = await t.deploy();
      const writer = new ReleaseLogWriter({
        signer: t.publisher,
        contractAddress: address,
        confirmations: 1,
        pollIntervalMs: 50,
      });
      flat = new AuditRepo(ctx.keys, writer, { bitLength: 3, suppliers: ctx.suppliers });
      await flat.init('flat');
      await flat.addFirmware(ctx.fw[0]!);
      await flat.publish(); // targets 1, snapshot 1; chain: targets 1
      await flat.addFirmware(ctx.fw[1]!);
      await flat.publish(); // targets 2, snapshot 2; chain: targets 2
      await flat.publish({ log: false }); // snapshot 3 re-signed, still targets 2: nothing logged
      await server.close();
      server = await flat.serve();
      flatChain = { address, deployBlock };
    });

    async function auditFlat() {
      const chain = new ChainReader({
        rpcUrls: [t.chain.rpcUrl],
        quorum: 1,
        confirmations: 1,
        contractAddress: flatChain.address,
        fromBlock: flatChain.deployBlock,
      });
      try {
        return await auditRepository({
          chain,
          source: createHttpAuditSource(server.url),
          trustedRoot: JSON.parse(Buffer.from(flat.roots.get(1)!).toString('utf8')),
          firmwareKey: { publicKeyPem: ctx.keys.build.publicKeyPem(), keyId: ctx.keys.build.keyId },
        });
      } finally {
        chain.destroy();
      }
    }

    it('accepts the flat history and the v2 snapshots logged after it', async () => {
      flat.enableV2();
      await flat.addFirmware(ctx.fw[2]!);
      await flat.addFirmware(ctx.supplierFw);
      await flat.publish(); // snapshot 4: the first logged snapshot
      const report = await auditFlat();
      expect(codes(report)).toEqual([]);
      expect(report.stats).toMatchObject({
        releasesLogged: 3,
        snapshotVersionsServed: 4,
        firmwareTargets: 4,
        firmwareAttestationsVerified: 4,
      });
    });

    it('reports METADATA_NOT_LOGGED for a flat targets version that was never logged', async () => {
      await flat.addFirmware(ctx.fw[2]!);
      await flat.publish({ log: false });
      expect((await auditFlat()).findings.map((f) => [f.code, f.subject])).toContainEqual([
        'METADATA_NOT_LOGGED',
        'targets:3',
      ]);
    });

    it('reports METADATA_NOT_LOGGED for a flat snapshot served after snapshots began to be logged', async () => {
      flat.enableV2();
      await flat.publish(); // snapshot 4, logged
      // A flat-shaped snapshot 5 pinning only the old targets, never logged.
      const v2roles = [...flat.roles.keys()].filter((r) => r !== 'targets');
      const saved = new Map(v2roles.map((r) => [r, flat.roles.get(r)!]));
      for (const r of v2roles) flat.roles.delete(r);
      await flat.publish({ log: false });
      for (const [r, d] of saved) flat.roles.set(r, d);
      expect((await auditFlat()).findings.map((f) => [f.code, f.subject])).toContainEqual([
        'METADATA_NOT_LOGGED',
        'snapshot:5',
      ]);
    });
  });

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

    it('exits 0 on a clean history and 1 with JSON findings after an unlogged snapshot', async () => {
      expect((await cli()).code).toBe(0);
      await repo.addFirmware(ctx.fw[2]!);
      await repo.publish({ log: false });
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
      outbox: new SqliteAnchorOutbox(db),
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
    await log.append(
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

  it('finds a report whose entry a server wrote before control characters were escaped', async () => {
    // A report replayed with a control character in an extra field, as servers before the fix
    // stored and logged it: plain OLPC canonical JSON, which is not JSON.
    const replayed = { ...(repo.attestations[0] as Record<string, unknown>), x: 'a\u0001b' };
    const legacy = canonicalize({ type: 'install-attestation', bundle: replayed });
    expect(() => JSON.parse(legacy) as unknown).toThrow();
    await log.storage.append([{ kind: 'install-attestation', data: Buffer.from(legacy) }]);
    await anchorer().anchorNow();
    repo.attestations.push(replayed);
    const report = await audit(withLog());
    expect(report.findings.map((f) => [f.code, f.severity])).toEqual([
      ['ATTESTATION_DUPLICATED', 'warning'],
    ]);
    expect(report.installs.map((i) => i.logIndex)).toEqual([3, 4]);
  });

  it('reports no finding when every checkpoint and anchor is a root of the served log', async () => {
    const report = await audit(withLog());
    expect(report.findings.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
    expect(report.stats).toMatchObject({
      logEntries: 4,
      checkpointsVerified: 1,
      anchorsVerified: 1,
    });
    expect(report.installs[0]?.logIndex).toBe(3);
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
            { targetsVersion: ctx.trusted.version, targetsHash: ctx.trusted.hash },
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
        await fork.log.append(
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
          { origin: 'tufchain.test/log', size: 3, rootHash: await log.root(3), extensions: [] },
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
        await log.append({
          type: 'release',
          metadataVersion: 9,
          metadataHash: '0x' + '99'.repeat(32),
          firmware: [],
        });
        await anchorer().anchorNow();
      },
      wantCode: 'LOG_RELEASE_NOT_ON_CHAIN',
    },
    {
      desc: 'the server accepted a replay: a second logged report with the counter of an earlier one',
      tamper: async () => {
        const replay = await installBundle(
          ctx.vehicle,
          { name: ctx.fw[1]!.name, digest: sha256(ctx.fw[1]!.bytes), releaseCounter: 2 },
          { targetsVersion: ctx.trusted.version, targetsHash: ctx.trusted.hash },
          { counter: 1, odometerKm: 1500, finishedAt: new Date(Date.now() + 1000).toISOString() },
        );
        repo.attestations.push(replay);
        await log.append({ type: 'install-attestation', bundle: replay });
        await anchorer().anchorNow();
      },
      wantCode: 'ATTESTATION_COUNTER_REUSED',
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
          const anchor = await service.anchorCovering(inst.logIndex!);
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
        { digest: '0x' + sha256(ctx.fw[1]!.bytes), logIndex: 3, result: 'SUCCESS' },
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

    it('throws AUDIT_PACK_INVALID online when an install trusted metadata that was never logged', async () => {
      const p = await pack();
      const fw = ctx.fw[1]!;
      const forged = await installBundle(
        ctx.vehicle,
        { name: fw.name, digest: sha256(fw.bytes), releaseCounter: 2 },
        // a snapshot the server might show one vehicle only: signed, never logged
        { targetsVersion: 9, targetsHash: '0x' + 'cd'.repeat(32) },
        { counter: 9 },
      );
      const bad = {
        ...p,
        installs: [{ ...p.installs[0]!, attestation: forged, proofBundle: null }],
      };
      const offline = await verifyVehicleAuditPack(bad, { vehicleCaPem: ctx.ca.certificatePem });
      expect(offline).toHaveLength(1);
      const chain = new ChainReader({
        rpcUrls: [t.chain.rpcUrl],
        quorum: 1,
        confirmations: 1,
        contractAddress: t.address,
        chainId: t.chain.chainId,
        fromBlock: t.deployBlock,
      });
      const err = await verifyVehicleAuditPack(bad, {
        vehicleCaPem: ctx.ca.certificatePem,
        chain,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      chain.destroy();
      expect((err as TransparencyError).code).toBe('AUDIT_PACK_INVALID');
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
      await logService.appendRelease(
        { metadataVersion: r.metadataVersion, metadataHash: r.metadataHash, firmware: [] },
        r,
      );
    chain.destroy();
    await logService.appendInstallAttestation(repo.attestations[0]);
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
      logEntries: 4,
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
    const codeOf = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (err) {
        return (err as TransparencyError).code;
      }
      return 'NO_ERROR';
    };
    expect(await codeOf(logService!.entries(2, 99))).toBe('INVALID_RANGE');
    expect(await codeOf(logService!.entries(-1, 1))).toBe('INVALID_RANGE');
    const err = await logService!.proofBundle(99).catch((e: unknown) => e);
    expect((err as TransparencyError).code).toBe('ENTRY_NOT_FOUND');
    expect((await logService!.entries(0, 3)).entries).toHaveLength(3);
  });
});
