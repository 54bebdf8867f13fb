// The Director in the audit trail, on real parts: anvil (the image repository logs on chain),
// SQLite, the transparency log, HTTP on loopback, the server's own Director. Install reports of
// secondaries must carry the ECU's own signed result, and the auditor matches every install, served
// Director version and ECU report against the log and the registered ECU keys.
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCa,
  createVehicleCsr,
  finalizeRootCeremony,
  generateKeyPair,
  initRootCeremony,
  signRootCeremony,
  type RootCeremony,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import {
  auditRepository,
  canonicalJson,
  createVehicleAuditPacks,
  formatVerifierKey,
  runAuditCli,
  TransparencyError,
  verifyVehicleAuditPack,
  type VehicleAuditPack,
  createHttpAuditSource,
  createHttpLogAuditSource,
  createNoteVerifier,
  type AuditFinding,
  type AuditResult,
} from '@tufchain/transparency';
import {
  signEnvelope,
  signVehicleRequest,
  type EcuInstallResult,
  type EcuRegistration,
  type InstallPredicate,
} from '@tufchain/transparency/wire';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  initDirectorFromRoot,
  initRepository,
  openServerLog,
  startServer,
  type OpenedRepository,
  type RunningServer,
  type ServerLog,
} from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository } from './support/database.js';
import { publishReleaseOverHttp } from './support/publish-over-http.js';
import { signInstallStatement } from './support/install-report.js';

const ORIGIN = 'tufchain.test/director-audit';
const DAY = 24 * 60 * 60 * 1000;
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
type ClientKey = EcuRegistration['ecus'][number]['clientKey'];
const clientKey = (s: Signer): ClientKey => s.publicKey as ClientKey;

const IMAGES = {
  gateway: { name: 'gw-2.0.0.img', hardwareId: 'gateway-x1', counter: 20 },
  brake: { name: 'brk-2.4.0.bin', hardwareId: 'brake-b7', counter: 12 },
  info: { name: 'info-1.0.0.bin', hardwareId: 'infotainment-i3', counter: 3 },
} as const;
type ImageKey = keyof typeof IMAGES;
const imageBytes = (name: string) => new TextEncoder().encode(`image bytes of ${name}`);

interface Ecu {
  serial: string;
  signer: Signer;
  hardwareId: string;
}

interface Vehicle {
  privateKey: KeyObject;
  signer: Signer;
  certificatePem: string;
  vinCommitment: string;
  serialNumber: string;
  gateway: Ecu;
  brake: Ecu;
  info: Ecu;
  counter: number;
}

interface Director {
  targetsVersion: number;
  targetsHash: string;
  correlationId: string | null;
}

describe('the Director in the audit trail (anvil, SQLite, transparency log, HTTP)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let log: ServerLog;
  let ca: VehicleCa;
  let trustedRoot: unknown;
  const noteKey = generateKeyPairSync('ed25519');
  const directorOnline = { targets: ed(), snapshot: ed(), timestamp: ed() };
  const tokens = { enroll: '', publish: '', assign: '', audit: '' };
  let vinSerial = 700;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-director-audit-'));
    repo = await openTestRepository({ dataDir: dir });
    ca = await createVehicleCa({ commonName: 'Director Audit Test Vehicle CA' });
    const writer = chain.writer();
    const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
    await initRepository({
      store: repo.store,
      rootSigners: [ed()],
      threshold: 1,
      onlineSigners: online,
      releaseLog: writer,
    });
    const holders = [ed(), ed()];
    let ceremony: RootCeremony = initRootCeremony({
      root: { keys: holders.map((h) => h.publicKey), threshold: 1 },
      targets: { keys: [directorOnline.targets.publicKey], threshold: 1 },
      snapshot: { keys: [directorOnline.snapshot.publicKey], threshold: 1 },
      timestamp: { keys: [directorOnline.timestamp.publicKey], threshold: 1 },
      expires: new Date(Date.now() + 365 * DAY),
    });
    ceremony = await signRootCeremony(ceremony, holders[0]!);
    await initDirectorFromRoot({
      store: repo.director,
      rootBytes: new TextEncoder().encode(JSON.stringify(finalizeRootCeremony(ceremony))),
      signers: directorOnline,
      clock: () => new Date(),
    });
    log = await openServerLog({
      dataDir: dir,
      origin: ORIGIN,
      noteKey: noteKey.privateKey,
      logger: pino({ level: 'silent' }),
    });
    const firmware = ed();
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog: writer,
        firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
        vehicleCa: ca,
        transparencyLog: log,
        director: { store: repo.director, signers: directorOnline },
        logger: pino({ level: process.env.DIRECTOR_TEST_LOG ?? 'silent' }),
        config: { resignIntervalMs: 0 },
      },
    });
    const token = async (scopes: ('enroll' | 'publish' | 'director:assign')[]) =>
      (await createApiToken(repo.store, { name: scopes.join(','), scopes })).token;
    tokens.enroll = await token(['enroll']);
    tokens.publish = await token(['publish']);
    tokens.assign = await token(['director:assign']);
    tokens.audit = await token(['enroll']);
    await publishReleaseOverHttp(
      server.url,
      tokens.publish,
      firmware,
      Object.values(IMAGES).map((image) => ({
        name: image.name,
        bytes: imageBytes(image.name),
        hardwareIds: [image.hardwareId],
        version: '2.0.0',
        releaseCounter: image.counter,
      })),
    );
    trustedRoot = await (await fetch(`${server.url}/metadata/1.root.json`)).json();
  });

  afterAll(async () => {
    await server?.close();
    await log?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // ------------------------------------------------------------------ the vehicle's side

  async function enroll(): Promise<Vehicle> {
    vinSerial += 1;
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const ecuSerial = `GW-${vinSerial}`;
    const vinCommitment = computeVinCommitment(`WVWZZZ1JZXW${100000 + vinSerial}`, randomBytes(32));
    const csr = await createVehicleCsr(privateKey, { vinCommitment, ecuSerial });
    const res = await fetch(`${server.url}/api/v1/vehicles/enroll`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.enroll}`, 'content-type': 'application/json' },
      body: JSON.stringify({ csr }),
    });
    expect(res.status).toBe(201);
    const { serialNumber, certificate } = (await res.json()) as {
      serialNumber: string;
      certificate: string;
    };
    const signer = createKeySigner(privateKey);
    return {
      privateKey,
      signer,
      certificatePem: certificate,
      vinCommitment,
      serialNumber,
      gateway: { serial: ecuSerial, signer, hardwareId: IMAGES.gateway.hardwareId },
      brake: { serial: `BRK-${vinSerial}`, signer: ed(), hardwareId: IMAGES.brake.hardwareId },
      info: { serial: `INF-${vinSerial}`, signer: ed(), hardwareId: IMAGES.info.hardwareId },
      counter: 0,
    };
  }

  async function vehicleRequest(v: Vehicle, method: string, path: string, body?: unknown) {
    const url = `${server.url}${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const signed = await signVehicleRequest(
      { method, url, ...(text ? { body: new TextEncoder().encode(text) } : {}) },
      { keyid: v.serialNumber, sign: (d) => v.signer.sign(d) },
    );
    return fetch(url, {
      method,
      headers: { ...signed, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text !== undefined ? { body: text } : {}),
    });
  }

  async function register(v: Vehicle): Promise<void> {
    const registration: EcuRegistration = {
      primary_ecu_serial: v.gateway.serial,
      ecus: [v.gateway, v.brake, v.info].map((e, i) => ({
        ecu_serial: e.serial,
        hardware_identifier: e.hardwareId,
        clientKey: clientKey(e.signer),
        ...(i === 0 ? { primary: true } : {}),
      })),
    };
    const res = await vehicleRequest(v, 'PUT', '/api/v1/director/ecus', registration);
    expect(res.status).toBe(201);
  }

  /** Assigns images to ECUs and returns the Director targets the vehicle would trust. */
  async function assign(v: Vehicle, which: ImageKey[]): Promise<Director> {
    const res = await fetch(`${server.url}/api/v1/director/assignments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.assign}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        vehicle: v.vinCommitment,
        images: which.map((k) => ({ ecuSerial: v[k].serial, name: IMAGES[k].name })),
      }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      assignment: { correlationId: string };
      targetsVersion: number;
    };
    const targets = await vehicleRequest(
      v,
      'GET',
      `/director/metadata/${body.targetsVersion}.targets.json`,
    );
    expect(targets.status).toBe(200);
    return {
      targetsVersion: body.targetsVersion,
      targetsHash: sha256(new Uint8Array(await targets.arrayBuffer())),
      correlationId: body.assignment.correlationId,
    };
  }

  /** The image repository snapshot the vehicle trusted (logged on chain). */
  async function trustedSnapshot(): Promise<{ targetsVersion: number; targetsHash: string }> {
    const ts = (await (await fetch(`${server.url}/metadata/timestamp.json`)).json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const version = ts.signed.meta['snapshot.json']!.version;
    const bytes = new Uint8Array(
      await (await fetch(`${server.url}/metadata/${version}.snapshot.json`)).arrayBuffer(),
    );
    return { targetsVersion: version, targetsHash: '0x' + sha256(bytes) };
  }

  async function ecuResult(
    ecu: Ecu,
    image: ImageKey,
    director: Director,
    opts: { signer?: Signer; result?: EcuInstallResult['result'] } = {},
  ) {
    const bytes = imageBytes(IMAGES[image].name);
    return signEnvelope<EcuInstallResult>(
      {
        ecu_serial: ecu.serial,
        correlation_id: director.correlationId,
        target: {
          filepath: IMAGES[image].name,
          fileinfo: { length: bytes.byteLength, hashes: { sha256: sha256(bytes) } },
        },
        result: opts.result ?? 'SUCCESS',
        code: '',
        report_counter: 1,
        timeserver_time: new Date().toISOString(),
      },
      [opts.signer ?? ecu.signer],
    );
  }

  /** The install report the primary signs (vehicle certificate) for one ECU. */
  async function installReport(
    v: Vehicle,
    ecu: Ecu,
    image: ImageKey,
    extra: Partial<InstallPredicate>,
  ): Promise<unknown> {
    v.counter += 1;
    const digest = sha256(imageBytes(IMAGES[image].name));
    const predicate: InstallPredicate = {
      vehicle: { commitment: v.vinCommitment },
      ecu: { serial: ecu.serial, hardwareId: ecu.hardwareId },
      from: null,
      to: {
        name: IMAGES[image].name,
        version: '2.0.0',
        releaseCounter: IMAGES[image].counter,
        digest,
      },
      result: 'SUCCESS',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      finishedAt: new Date().toISOString(),
      odometerKm: 1000 + v.counter,
      counter: v.counter,
      metadata: await trustedSnapshot(),
      checkpoint: {
        chainId: 31337,
        blockNumber: 1,
        blockHash: '0x' + '0'.repeat(64),
        timestamp: 1,
      },
      ...extra,
    };
    return signInstallStatement(predicate, v.signer, v.certificatePem);
  }

  async function send(bundle: unknown): Promise<Response> {
    return fetch(`${server.url}/api/v1/attestations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bundle),
    });
  }

  async function codeOf(res: Response): Promise<string> {
    return ((await res.json()) as { error: { code: string } }).error.code;
  }

  async function storedReports(): Promise<unknown[]> {
    return (
      (await (await fetch(`${server.url}/api/v1/attestations`)).json()) as {
        attestations: unknown[];
      }
    ).attestations;
  }

  /** A manifest of every ECU on the given images, each report signed by `signers` or its own key. */
  async function sendManifest(
    v: Vehicle,
    images: Record<'gateway' | 'brake' | 'info', ImageKey>,
    signers: Partial<Record<'brake', Signer>> = {},
  ): Promise<Response> {
    const nonce = randomBytes(16).toString('hex');
    const reports: Record<string, unknown> = {};
    for (const k of ['gateway', 'brake', 'info'] as const) {
      const bytes = imageBytes(IMAGES[images[k]].name);
      reports[v[k].serial] = await signEnvelope(
        {
          ecu_serial: v[k].serial,
          installed_image: {
            filepath: IMAGES[images[k]].name,
            fileinfo: { length: bytes.byteLength, hashes: { sha256: sha256(bytes) } },
          },
          attacks_detected: '',
          report_counter: v.counter + 100,
          nonce,
          timeserver_time: new Date().toISOString(),
        },
        [(k === 'brake' ? signers.brake : undefined) ?? v[k].signer],
      );
    }
    const manifest = await signEnvelope(
      {
        vehicle: v.vinCommitment,
        primary_ecu_serial: v.gateway.serial,
        ecu_version_manifests: reports as never,
      },
      [v.signer],
    );
    return vehicleRequest(v, 'POST', '/api/v1/director/manifest', manifest);
  }

  /** A clean Uptane install of all three ECUs: reports (with the secondaries' results), manifest. */
  async function installEverything(v: Vehicle): Promise<Director> {
    const director = await assign(v, ['gateway', 'brake', 'info']);
    expect((await send(await installReport(v, v.gateway, 'gateway', { director }))).status).toBe(
      201,
    );
    for (const k of ['brake', 'info'] as const) {
      const ecuSigned = await ecuResult(v[k], k, director);
      const res = await send(await installReport(v, v[k], k, { director, ecuResult: ecuSigned }));
      expect(res.status).toBe(201);
    }
    const m = await sendManifest(v, { gateway: 'gateway', brake: 'brake', info: 'info' });
    expect(m.status).toBe(201);
    return director;
  }

  // ------------------------------------------------------------------ the auditor's side

  async function audit(opts: { oemToken?: boolean } = {}): Promise<AuditResult> {
    // The log signs a checkpoint of everything appended so far, as it does before anchoring.
    await log.log.checkpoint();
    return auditRepository({
      chain: chain.reader(),
      source: createHttpAuditSource(
        server.url,
        opts.oemToken === false ? {} : { oemToken: tokens.audit },
      ),
      trustedRoot,
      vehicleCaPem: ca.certificatePem,
      log: {
        source: createHttpLogAuditSource(server.url),
        verifiers: [createNoteVerifier(ORIGIN, noteKey.publicKey)],
        origin: ORIGIN,
      },
    });
  }

  /** The audit pack of one vehicle, made from an audit result as `tufchain audit` writes it. */
  async function packOf(result: AuditResult, v: Vehicle): Promise<VehicleAuditPack> {
    const packs = await createVehicleAuditPacks(result, {
      vehicleCaPem: ca.certificatePem,
      contractAddress: chain.contractAddress,
    });
    return packs.get(v.vinCommitment)!;
  }

  /** The finding codes an audit pack's offline verification refuses it with ([] if it verifies). */
  async function packFindings(pack: unknown): Promise<string[]> {
    try {
      await verifyVehicleAuditPack(pack, {
        vehicleCaPem: ca.certificatePem,
        logVerifiers: [createNoteVerifier(ORIGIN, noteKey.publicKey)],
        origin: ORIGIN,
      });
      return [];
    } catch (error) {
      expect(error).toBeInstanceOf(TransparencyError);
      expect((error as TransparencyError).code).toBe('AUDIT_PACK_INVALID');
      return ((error as TransparencyError).cause as AuditFinding[]).map((f) => f.code);
    }
  }

  /** The vehicle a finding is about, from its subject. */
  async function vehicleOf(f: AuditFinding): Promise<string | undefined> {
    const [kind, first] = (f.subject ?? '').split(':');
    if (kind === 'director' || kind === 'manifest' || kind === 'vehicle') return first;
    if (kind === 'attestation') {
      const bundle = (await storedReports())[Number(first)] as {
        dsseEnvelope: { payload: string };
      };
      const statement = JSON.parse(
        Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString(),
      ) as {
        predicate: InstallPredicate;
      };
      return statement.predicate.vehicle.commitment;
    }
    return undefined;
  }

  async function findingsAbout(result: AuditResult, v: Vehicle): Promise<string[]> {
    const out = [];
    for (const f of result.findings) if ((await vehicleOf(f)) === v.vinCommitment) out.push(f.code);
    return out;
  }

  // ------------------------------------------------------------------ intake

  describe('install report intake for a secondary ECU', () => {
    let v: Vehicle;
    let director: Director;

    beforeAll(async () => {
      v = await enroll();
      await register(v);
      director = await assign(v, ['brake', 'info']);
    });

    const attacks: {
      desc: string;
      report: (v: Vehicle, d: Director) => Promise<unknown>;
      wantCode: string;
    }[] = [
      {
        desc: "the brake ECU's success on the primary's word alone (no ecuResult)",
        report: (v, d) => installReport(v, v.brake, 'brake', { director: d }),
        wantCode: 'ECU_RESULT_UNSIGNED',
      },
      {
        desc: "the brake ECU's result signed by the infotainment ECU's key",
        report: async (v, d) =>
          installReport(v, v.brake, 'brake', {
            director: d,
            ecuResult: await ecuResult(v.brake, 'brake', d, { signer: v.info.signer }),
          }),
        wantCode: 'ECU_RESULT_SIGNATURE_INVALID',
      },
      {
        desc: 'a result signed by a key no ECU of the vehicle registered',
        report: async (v, d) =>
          installReport(v, v.brake, 'brake', {
            director: d,
            ecuResult: await ecuResult(v.brake, 'brake', d, { signer: ed() }),
          }),
        wantCode: 'ECU_RESULT_SIGNATURE_INVALID',
      },
      {
        desc: 'a result for an ECU the vehicle never registered',
        report: async (v, d) => {
          const ghost = { serial: 'GHOST-1', signer: ed(), hardwareId: 'brake-b7' };
          return installReport(v, ghost, 'brake', {
            director: d,
            ecuResult: await ecuResult(ghost, 'brake', d),
          });
        },
        wantCode: 'ECU_RESULT_SIGNATURE_INVALID',
      },
      {
        desc: 'a genuine result of the brake ECU that names another image than the report',
        report: async (v, d) =>
          installReport(v, v.brake, 'brake', {
            director: d,
            ecuResult: await ecuResult(v.brake, 'info', d),
          }),
        wantCode: 'ECU_RESULT_MISMATCH',
      },
      {
        desc: 'a genuine ROLLED_BACK result of the brake ECU reported as SUCCESS',
        report: async (v, d) =>
          installReport(v, v.brake, 'brake', {
            director: d,
            ecuResult: await ecuResult(v.brake, 'brake', d, { result: 'ROLLED_BACK' }),
          }),
        wantCode: 'ECU_RESULT_MISMATCH',
      },
      {
        desc: 'a genuine result of the infotainment ECU presented as the brake ECU’s',
        report: async (v, d) =>
          installReport(v, v.brake, 'brake', {
            director: d,
            ecuResult: await ecuResult(v.info, 'brake', d),
          }),
        wantCode: 'ECU_RESULT_SIGNATURE_INVALID',
      },
    ];

    it.each(attacks)('refuses $desc with $wantCode and stores nothing', async (a) => {
      const before = (await storedReports()).length;
      const logSize = await log.log.size();
      const res = await send(await a.report(v, director));
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe(a.wantCode);
      expect((await storedReports()).length).toBe(before);
      expect(await log.log.size()).toBe(logSize);
    });

    it("accepts the secondary's report with its own signed result, and logs it", async () => {
      const before = (await storedReports()).length;
      const res = await send(
        await installReport(v, v.brake, 'brake', {
          director,
          ecuResult: await ecuResult(v.brake, 'brake', director),
        }),
      );
      expect(res.status).toBe(201);
      expect(((await res.json()) as { logIndex?: number }).logIndex).toBeTypeOf('number');
      expect((await storedReports()).length).toBe(before + 1);
    });
  });

  // ------------------------------------------------------------------ the auditor

  describe('the auditor', () => {
    let clean: Vehicle;

    beforeAll(async () => {
      clean = await enroll();
      await register(clean);
      await installEverything(clean);
    });

    it('finds nothing about a clean multi-ECU history, matching ECUs through the log', async () => {
      const result = await audit();
      // Nothing about any vehicle: the clean one and the intake's accepted secondary report.
      expect(result.findings).toEqual([]);
      expect(result.director?.logChecked).toBe(true);
      expect(result.director?.ecuMatch).toBe('commitment');
      expect(result.stats.installsMatchedWithoutEcu).toBe(0);
      expect(result.director?.ecuSignaturesChecked).toBe(true);
      expect(result.stats.directorInstalls).toBeGreaterThanOrEqual(3);
      // 2 install results and 3 manifest reports of the clean vehicle, at least.
      expect(result.stats.ecuReportsVerified).toBeGreaterThanOrEqual(5);
    });

    it("writes the clean vehicle's Director record into its audit pack, which verifies offline", async () => {
      const pack = await packOf(await audit(), clean);
      // The assignment's version and the empty one signed when it completed, each with its entry.
      expect(pack.director?.targets.length).toBeGreaterThanOrEqual(2);
      expect(pack.director?.targets.every((t) => t.entry !== null)).toBe(true);
      expect(pack.director?.inventory).toHaveLength(1);
      expect(pack.director?.manifests).toHaveLength(1);
      expect(await packFindings(pack)).toEqual([]);
      // A pack from before the Director (no director section) still verifies.
      const older: Partial<VehicleAuditPack> = { ...pack };
      delete older.director;
      expect(await packFindings(older)).toEqual([]);
    });

    const packTampers: {
      desc: string;
      tamper: (pack: VehicleAuditPack, v: Vehicle) => void;
      wantCode: string;
    }[] = [
      {
        desc: 'a targets version whose log entry was taken out',
        tamper: (pack) => {
          // The empty version signed when the assignment completed: no install refers to it.
          pack.director!.targets.at(-1)!.entry = null;
        },
        wantCode: 'DIRECTOR_TARGETS_NOT_LOGGED',
      },
      {
        desc: "an inventory that gives the brake ECU the infotainment ECU's key",
        tamper: (pack, v) => {
          const ecus = pack.director!.inventory[0]!.registration.ecus;
          const brake = ecus.find((e) => e.ecu_serial === v.brake.serial)!;
          brake.clientKey = clientKey(v.info.signer);
        },
        // The brake's install result and its manifest report.
        wantCode: 'ECU_REPORT_UNSIGNED_BY_ECU',
      },
    ];

    it.each(packTampers)('refuses a clean pack with $desc offline ($wantCode)', async (row) => {
      const pack = structuredClone(await packOf(await audit(), clean));
      row.tamper(pack, clean);
      const codes = await packFindings(pack);
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes)).toEqual(new Set([row.wantCode]));
    });

    it('tufchain audit --oem-token exits 0, says how it matched, and writes Director packs', async () => {
      await log.log.checkpoint();
      const work = await mkdtemp(join(tmpdir(), 'tufchain-director-audit-cli-'));
      try {
        await writeFile(join(work, 'root.json'), JSON.stringify(trustedRoot));
        await writeFile(join(work, 'ca.pem'), ca.certificatePem);
        const out: string[] = [];
        const code = await runAuditCli(
          [
            ...['--server', server.url, '--rpc', chain.chain.rpcUrl],
            ...['--contract', chain.contractAddress, '--trusted-root', join(work, 'root.json')],
            ...['--vehicle-ca', join(work, 'ca.pem'), '--oem-token', tokens.audit],
            ...['--log-key', formatVerifierKey(ORIGIN, noteKey.publicKey), '--log-origin', ORIGIN],
            ...['--audit-pack-dir', join(work, 'packs'), '--json'],
          ],
          { stdout: (l) => out.push(l), stderr: () => undefined },
        );
        expect(code).toBe(0);
        const report = JSON.parse(out.join('\n')) as { director: { ecuMatch: string } };
        expect(report.director.ecuMatch).toBe('commitment');
        expect(await readdir(join(work, 'packs'))).toContain(`${clean.vinCommitment}.json`);
        const pack = JSON.parse(
          await readFile(join(work, 'packs', `${clean.vinCommitment}.json`), 'utf8'),
        ) as unknown;
        expect((pack as VehicleAuditPack).director?.inventory).toHaveLength(1);
        expect(await packFindings(pack)).toEqual([]);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });

    it('without an OEM token matches installs by image name and sha256 and says so', async () => {
      const result = await audit({ oemToken: false });
      expect(await findingsAbout(result, clean)).toEqual([]);
      expect(result.director?.ecuMatch).toBe('name-and-sha256');
      expect(result.director?.ecuSignaturesChecked).toBe(false);
      expect(result.stats.ecuReportsUnchecked).toBeGreaterThanOrEqual(2);
    });

    const tampered: {
      desc: string;
      tamper: (v: Vehicle) => Promise<void>;
      wantCode: string;
    }[] = [
      {
        desc: 'a Director targets version served but never logged',
        tamper: async (v) => {
          await assign(v, ['brake']);
          // The hacker holds the Director's online keys and the database: a new version, served
          // with the log index of the previous one, never appended to the log.
          const current = (await repo.director.currentDirectorMetadata(
            v.vinCommitment,
            'targets',
          ))!;
          const bytes = new TextEncoder().encode(
            new TextDecoder().decode(current.bytes).replace('"version":', '"version": '),
          );
          const version = current.version + 1;
          await repo.director.stageDirectorMetadata([
            { ...current, version, bytes, sha256: sha256(bytes), logEntry: null, logIndex: null },
          ]);
          await repo.director.publishDirectorMetadata(
            [{ vehicle: v.vinCommitment, role: 'targets', version }],
            current.logIndex,
          );
        },
        wantCode: 'DIRECTOR_TARGETS_NOT_LOGGED',
      },
      {
        desc: 'an install of an image never assigned to that ECU',
        tamper: async (v) => {
          const director = await assign(v, ['brake']);
          const res = await send(
            await installReport(v, v.brake, 'info', {
              director,
              ecuResult: await ecuResult(v.brake, 'info', director),
            }),
          );
          expect(res.status).toBe(201);
        },
        wantCode: 'INSTALL_NOT_ASSIGNED',
      },
      {
        desc: 'an install for Director targets the log never held',
        tamper: async (v) => {
          const director = await assign(v, ['gateway']);
          const forged = { ...director, targetsVersion: director.targetsVersion + 50 };
          const res = await send(
            await installReport(v, v.gateway, 'gateway', { director: forged }),
          );
          expect(res.status).toBe(201);
        },
        wantCode: 'DIRECTOR_ASSIGNMENT_NOT_LOGGED',
      },
      {
        desc: "an ecuResult signed by another ECU's key, slipped past the intake",
        tamper: async (v) => {
          const director = await assign(v, ['brake']);
          const bundle = await installReport(v, v.brake, 'brake', {
            director,
            ecuResult: await ecuResult(v.brake, 'brake', director, { signer: v.info.signer }),
          });
          // A compromised server (or database) stores it without the intake's check.
          const bundleJson = canonicalJson(bundle);
          const stored = await repo.store.insertAttestation({
            reportSha256: sha256(`forged ${bundleJson}`),
            counter: v.counter,
            bundleSha256: sha256(bundleJson),
            bundleJson,
            vinCommitment: v.vinCommitment,
            ecuSerial: v.brake.serial,
            targetName: IMAGES.brake.name,
            result: 'SUCCESS',
            receivedAt: new Date().toISOString(),
          });
          await repo.store.setAttestationLogIndex(
            stored.id,
            await log.appendInstallAttestation(bundle),
          );
        },
        wantCode: 'ECU_REPORT_UNSIGNED_BY_ECU',
      },
      {
        desc: "a manifest whose brake report is signed by the infotainment ECU's key",
        tamper: async (v) => {
          await assign(v, ['brake']);
          const res = await sendManifest(
            v,
            { gateway: 'gateway', brake: 'brake', info: 'info' },
            { brake: v.info.signer },
          );
          // The Director records it, flagged ECU_KEY_MISMATCH: the auditor must see it too.
          expect(res.status).toBe(201);
        },
        wantCode: 'ECU_REPORT_UNSIGNED_BY_ECU',
      },
    ];

    it.each(tampered)(
      'reports $desc as $wantCode, and nothing about the clean vehicle',
      async (row) => {
        const v = await enroll();
        await register(v);
        await row.tamper(v);
        const result = await audit();
        expect(await findingsAbout(result, v)).toEqual([row.wantCode]);
        expect(await findingsAbout(result, clean)).toEqual([]);
        // The vehicle's audit pack fails its offline verification with the same finding.
        expect(await packFindings(await packOf(result, v))).toEqual([row.wantCode]);
      },
    );
  });
});
