// The Uptane Director on real parts: anvil (the image repository logs on chain), SQLite, the
// transparency log, HTTP on loopback, tuf-js as the vehicle's Director client.
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
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
  rotateRootCeremony,
  signRootCeremony,
  type RootCeremony,
  type Signer,
  type VehicleCa,
} from '@tufchain/keys';
import {
  createNoteVerifier,
  hashLeaf,
  openCheckpoint,
  verifyInclusion,
} from '@tufchain/transparency';
import {
  computeEcuCommitment,
  directorTargetsLogEntrySchema,
  parseDirectorTargets,
  signEnvelope,
  signVehicleRequest,
  type EcuRegistration,
  type EcuVersionReport,
  type SignedEnvelope,
} from '@tufchain/transparency/wire';
import { pino } from 'pino';
import { BaseFetcher, Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
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
import { runCli } from '../src/cli/run.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { openTestRepository } from './support/database.js';
import { publishReleaseOverHttp } from './support/publish-over-http.js';

const ORIGIN = 'tufchain.test/director';
const DAY = 24 * 60 * 60 * 1000;
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
type ClientKey = EcuRegistration['ecus'][number]['clientKey'];
const clientKey = (s: Signer): ClientKey => s.publicKey as ClientKey;

interface Vehicle {
  privateKey: KeyObject;
  signer: Signer;
  vinCommitment: string;
  ecuSerial: string;
  serialNumber: string;
  brake: { serial: string; signer: Signer };
  info: { serial: string; signer: Signer };
  counter: number;
}

interface ErrorBody {
  error: { code: string };
}

const IMAGES = {
  gateway: { name: 'gw-2.0.0.img', hardwareId: 'gateway-x1', counter: 20 },
  brake: { name: 'brk-2.4.0.bin', hardwareId: 'brake-b7', counter: 12 },
  info: { name: 'info-1.0.0.bin', hardwareId: 'infotainment-i3', counter: 3 },
  // A valid target path that looks like a VIN: the Director's log entry would carry it in clear.
  vinNamed: { name: 'WAUZZZ8K9BA012346', hardwareId: 'brake-b7', counter: 13 },
} as const;
const imageBytes = (name: string) => new TextEncoder().encode(`image bytes of ${name}`);

/** tuf-js fetcher that signs every request with the vehicle key, as the primary does. */
class VehicleFetcher extends BaseFetcher {
  constructor(readonly vehicle: Pick<Vehicle, 'serialNumber' | 'signer'>) {
    super();
  }
  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const headers = await signVehicleRequest(
      { method: 'GET', url },
      { keyid: this.vehicle.serialNumber, sign: (d) => this.vehicle.signer.sign(d) },
    );
    const res = await fetch(url, { headers });
    if (!res.ok || !res.body) {
      throw new DownloadHTTPError(`GET ${url} answered ${res.status}`, res.status);
    }
    return res.body as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}

describe('the Uptane Director (anvil, SQLite, transparency log, HTTP, tuf-js)', () => {
  let chain: TestChain;
  let dir: string;
  let repo: OpenedRepository;
  let server: RunningServer;
  let log: ServerLog;
  let ca: VehicleCa;
  let directorRoot: Uint8Array;
  const rootHolders = [ed(), ed(), ed()];
  const directorOnline = { targets: ed(), snapshot: ed(), timestamp: ed() };
  // The targets key root v2 rotates to; the server holds it from the start.
  const nextDirectorTargets = ed();
  const noteKey = generateKeyPairSync('ed25519');
  const firmware = ed();
  const tokens = { enroll: '', publish: '', assign: '', admin: '' };
  let vinSerial = 500;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-director-'));
    repo = await openTestRepository({ dataDir: dir });
    ca = await createVehicleCa({ commonName: 'Director Test Vehicle CA' });
    const writer = chain.writer();
    const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
    await initRepository({
      store: repo.store,
      rootSigners: [ed()],
      threshold: 1,
      onlineSigners: online,
      releaseLog: writer,
    });
    // The Director's root: the same offline ceremony as the image repository's, 2 of 3 holders.
    let ceremony: RootCeremony = initRootCeremony({
      root: { keys: rootHolders.map((h) => h.publicKey), threshold: 2 },
      targets: { keys: [directorOnline.targets.publicKey], threshold: 1 },
      snapshot: { keys: [directorOnline.snapshot.publicKey], threshold: 1 },
      timestamp: { keys: [directorOnline.timestamp.publicKey], threshold: 1 },
      expires: new Date(Date.now() + 365 * DAY),
    });
    ceremony = await signRootCeremony(ceremony, rootHolders[0]!);
    ceremony = await signRootCeremony(ceremony, rootHolders[2]!);
    directorRoot = new TextEncoder().encode(JSON.stringify(finalizeRootCeremony(ceremony)));
    await initDirectorFromRoot({
      store: repo.director,
      rootBytes: directorRoot,
      signers: directorOnline,
      clock: () => new Date(),
    });
    log = await openServerLog({
      dataDir: dir,
      origin: ORIGIN,
      noteKey: noteKey.privateKey,
      logger: pino({ level: 'silent' }),
    });
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
        director: {
          store: repo.director,
          signers: { ...directorOnline, targets: [directorOnline.targets, nextDirectorTargets] },
          lock: repo.directorLock,
        },
        logger: pino({ level: process.env.DIRECTOR_TEST_LOG ?? 'silent' }),
        config: { resignIntervalMs: 0 },
      },
    });
    const token = async (scopes: ('enroll' | 'publish' | 'director:assign' | 'admin')[]) =>
      (await createApiToken(repo.store, { name: scopes.join(','), scopes })).token;
    tokens.enroll = await token(['enroll']);
    tokens.publish = await token(['publish']);
    tokens.assign = await token(['director:assign']);
    tokens.admin = await token(['admin']);
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
  });

  afterAll(async () => {
    await server?.close();
    await log?.close();
    await repo?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // ------------------------------------------------------------------ helpers

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
    const { serialNumber } = (await res.json()) as { serialNumber: string };
    return {
      privateKey,
      signer: createKeySigner(privateKey),
      vinCommitment,
      ecuSerial,
      serialNumber,
      brake: { serial: `BRK-${vinSerial}`, signer: ed() },
      info: { serial: `INF-${vinSerial}`, signer: ed() },
      counter: 0,
    };
  }

  /** A vehicle-signed request (RFC 9421), optionally tampered with after signing. */
  async function vehicleRequest(
    v: Pick<Vehicle, 'serialNumber' | 'signer'>,
    method: string,
    path: string,
    body?: unknown,
    opts: { created?: Date; tamperBody?: (b: string) => string; unsigned?: boolean } = {},
  ): Promise<Response> {
    const url = `${server.url}${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const bytes = text === undefined ? undefined : new TextEncoder().encode(text);
    const signed = opts.unsigned
      ? {}
      : await signVehicleRequest(
          { method, url, ...(bytes ? { body: bytes } : {}) },
          { keyid: v.serialNumber, sign: (d) => v.signer.sign(d) },
          opts.created,
        );
    return fetch(url, {
      method,
      headers: { ...signed, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text !== undefined ? { body: opts.tamperBody ? opts.tamperBody(text) : text } : {}),
    });
  }

  function registration(v: Vehicle): EcuRegistration {
    return {
      primary_ecu_serial: v.ecuSerial,
      ecus: [
        {
          ecu_serial: v.ecuSerial,
          hardware_identifier: IMAGES.gateway.hardwareId,
          primary: true,
          clientKey: clientKey(v.signer),
        },
        {
          ecu_serial: v.brake.serial,
          hardware_identifier: IMAGES.brake.hardwareId,
          clientKey: clientKey(v.brake.signer),
          verification: 'partial',
        },
        {
          ecu_serial: v.info.serial,
          hardware_identifier: IMAGES.info.hardwareId,
          clientKey: clientKey(v.info.signer),
        },
      ],
    };
  }

  async function register(v: Vehicle): Promise<void> {
    const res = await vehicleRequest(v, 'PUT', '/api/v1/director/ecus', registration(v));
    expect(res.status).toBe(201);
  }

  async function oem(
    method: string,
    path: string,
    body?: unknown,
    token = tokens.assign,
  ): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function codeOf(res: Response): Promise<string> {
    return ((await res.json()) as ErrorBody).error.code;
  }

  const fileinfo = (name: string) => {
    const bytes = imageBytes(name);
    return { length: bytes.byteLength, hashes: { sha256: sha256(bytes) } };
  };

  async function report(
    signer: Signer,
    serial: string,
    filepath: string,
    counter: number,
    nonce: string,
  ): Promise<SignedEnvelope<EcuVersionReport>> {
    return signEnvelope(
      {
        ecu_serial: serial,
        installed_image: { filepath, fileinfo: fileinfo(filepath) },
        attacks_detected: '',
        report_counter: counter,
        nonce,
        timeserver_time: new Date().toISOString(),
      },
      [signer],
    );
  }

  /** A manifest of every ECU on the given images, each report signed by its own key. */
  async function manifest(
    v: Vehicle,
    images: { gateway: string; brake: string; info: string },
    opts: { nonce?: string; counter?: number; signers?: Partial<Record<'brake', Signer>> } = {},
  ) {
    v.counter += 1;
    const counter = opts.counter ?? v.counter;
    const nonce = opts.nonce ?? randomBytes(16).toString('hex');
    return signEnvelope(
      {
        vehicle: v.vinCommitment,
        primary_ecu_serial: v.ecuSerial,
        ecu_version_manifests: {
          [v.ecuSerial]: await report(v.signer, v.ecuSerial, images.gateway, counter, nonce),
          [v.brake.serial]: await report(
            opts.signers?.brake ?? v.brake.signer,
            v.brake.serial,
            images.brake,
            counter,
            nonce,
          ),
          [v.info.serial]: await report(v.info.signer, v.info.serial, images.info, counter, nonce),
        },
      },
      [v.signer],
    );
  }

  function directorUpdater(v: Vehicle, metadataDir: string): Updater {
    return new Updater({
      metadataDir,
      metadataBaseUrl: `${server.url}/director/metadata`,
      targetBaseUrl: `${server.url}/targets`,
      fetcher: new VehicleFetcher(v),
      config: { fetchRetries: 0 },
    });
  }

  async function trustDirector(): Promise<string> {
    const metadataDir = await mkdtemp(join(tmpdir(), 'tufchain-director-client-'));
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(join(metadataDir, 'root.json'), directorRoot),
    );
    return metadataDir;
  }

  async function targetsOf(v: Vehicle, version: number): Promise<Record<string, unknown>> {
    const res = await vehicleRequest(v, 'GET', `/director/metadata/${version}.targets.json`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { signed: Record<string, unknown> }).signed;
  }

  async function currentTargetsVersion(v: Vehicle): Promise<number> {
    const ts = await vehicleRequest(v, 'GET', '/director/metadata/timestamp.json');
    const snapVersion = (
      (await ts.json()) as { signed: { meta: Record<string, { version: number }> } }
    ).signed.meta['snapshot.json']!.version;
    const snap = await vehicleRequest(v, 'GET', `/director/metadata/${snapVersion}.snapshot.json`);
    return ((await snap.json()) as { signed: { meta: Record<string, { version: number }> } }).signed
      .meta['targets.json']!.version;
  }

  async function assignAll(v: Vehicle): Promise<{ id: number; targetsVersion: number }> {
    const res = await oem('POST', '/api/v1/director/assignments', {
      vehicle: v.vinCommitment,
      images: [
        { ecuSerial: v.ecuSerial, name: IMAGES.gateway.name },
        { ecuSerial: v.brake.serial, name: IMAGES.brake.name },
        { ecuSerial: v.info.serial, name: IMAGES.info.name },
      ],
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { assignment: { id: number }; targetsVersion: number };
    return { id: body.assignment.id, targetsVersion: body.targetsVersion };
  }

  const factory = { gateway: 'gw-1.0.0.img', brake: 'brk-1.0.0.bin', info: 'info-0.9.0.bin' };
  const assigned = {
    gateway: IMAGES.gateway.name,
    brake: IMAGES.brake.name,
    info: IMAGES.info.name,
  };

  // ------------------------------------------------------------------ tests

  describe('per-vehicle metadata', () => {
    it('serves each vehicle metadata tuf-js verifies under the pinned Director root, listing exactly its assignment', async () => {
      const v = await enroll();
      await register(v);
      const metadataDir = await trustDirector();
      const first = directorUpdater(v, metadataDir);
      await first.refresh();
      expect(await first.getTargetInfo(IMAGES.brake.name)).toBeUndefined();

      const { targetsVersion } = await assignAll(v);
      const updater = directorUpdater(v, metadataDir);
      await updater.refresh();
      const brake = await updater.getTargetInfo(IMAGES.brake.name);
      expect(brake?.custom).toEqual({
        ecuIdentifiers: { [v.brake.serial]: { hardwareId: IMAGES.brake.hardwareId } },
        releaseCounter: IMAGES.brake.counter,
        uri: null,
      });
      expect(brake?.hashes.sha256).toBe(sha256(imageBytes(IMAGES.brake.name)));
      const signed = await targetsOf(v, targetsVersion);
      const parsed = parseDirectorTargets(signed);
      expect(parsed.custom.vehicle).toBe(v.vinCommitment);
      expect(parsed.custom.atomic).toBe(true);
      expect(parsed.assignments.map((a) => a.ecuSerial).sort()).toEqual(
        [v.ecuSerial, v.brake.serial, v.info.serial].sort(),
      );
      expect(targetsVersion).toBeGreaterThan(1);
      await rm(metadataDir, { recursive: true, force: true });
    });

    it("never gives a vehicle another vehicle's metadata, even when it asks for that version or signs with its serial", async () => {
      const a = await enroll();
      const b = await enroll();
      await register(a);
      await register(b);
      const timestamp = (x: Vehicle) =>
        vehicleRequest(x, 'GET', '/director/metadata/timestamp.json');
      expect((await timestamp(a)).status).toBe(200);
      expect((await timestamp(b)).status).toBe(200);
      // A: v1 (nothing), v2 (its assignment). B: v1 (nothing) only.
      const { targetsVersion } = await assignAll(a);
      expect(targetsVersion).toBe(2);
      const aBytes = await (
        await vehicleRequest(a, 'GET', `/director/metadata/${targetsVersion}.targets.json`)
      ).text();
      expect(JSON.parse(aBytes)).toMatchObject({
        signed: { custom: { vehicle: a.vinCommitment } },
      });
      // B asks for A's version number: its own chain has none.
      const asB = await vehicleRequest(
        b,
        'GET',
        `/director/metadata/${targetsVersion}.targets.json`,
      );
      expect(asB.status).toBe(404);
      expect(await codeOf(asB)).toBe('METADATA_NOT_FOUND');
      const promise = await vehicleRequest(
        b,
        'GET',
        `/director/log-promise?version=${targetsVersion}`,
      );
      expect(promise.status).toBe(404);
      expect(await codeOf(promise)).toBe('DIRECTOR_VERSION_NOT_FOUND');
      // B's own v1 names B and lists nothing.
      const bOwn = await targetsOf(b, 1);
      expect((bOwn.custom as { vehicle: string }).vehicle).toBe(b.vinCommitment);
      expect(bOwn.targets).toEqual({});
      // B names A's certificate serial but signs with its own key.
      const forged = await vehicleRequest(
        { serialNumber: a.serialNumber, signer: b.signer },
        'GET',
        `/director/metadata/${targetsVersion}.targets.json`,
      );
      expect(forged.status).toBe(401);
      expect(await codeOf(forged)).toBe('VEHICLE_SIGNATURE_INVALID');
      // B's timestamp still points at B's own snapshot and targets.
      const bTimestamp = (await (await timestamp(b)).json()) as { signed: { version: number } };
      expect(bTimestamp.signed.version).toBe(1);
    });

    it('logs every targets version before serving it; the promise proves the entry, which names the vehicle and the exact bytes', async () => {
      const v = await enroll();
      await register(v);
      const { targetsVersion } = await assignAll(v);
      const bytes = new Uint8Array(
        await (
          await vehicleRequest(v, 'GET', `/director/metadata/${targetsVersion}.targets.json`)
        ).arrayBuffer(),
      );
      const res = await vehicleRequest(v, 'GET', `/director/log-promise?version=${targetsVersion}`);
      expect(res.status).toBe(200);
      const promise = (await res.json()) as {
        mediaType: string;
        entry: { index: number; data: string };
        inclusionProof: { treeSize: number; hashes: string[] };
        checkpoint: string;
      };
      expect(promise.mediaType).toBe('application/vnd.tufchain.log-promise.v1+json');
      const cp = openCheckpoint(
        promise.checkpoint,
        [createNoteVerifier(ORIGIN, noteKey.publicKey)],
        ORIGIN,
      );
      expect(cp.size).toBe(promise.inclusionProof.treeSize);
      const data = Buffer.from(promise.entry.data, 'base64');
      verifyInclusion(
        hashLeaf(data),
        promise.entry.index,
        cp.size,
        promise.inclusionProof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64'))),
        cp.rootHash,
      );
      const entry = directorTargetsLogEntrySchema.parse(JSON.parse(data.toString('utf8')));
      expect(entry.vehicle).toBe(v.vinCommitment);
      expect(entry.targetsVersion).toBe(targetsVersion);
      expect(entry.targetsHash).toBe(sha256(bytes));
      expect(entry.images).toHaveLength(3);
      expect(data.toString('utf8')).not.toMatch(/WVWZZZ/);
      for (const serial of [v.ecuSerial, v.brake.serial, v.info.serial])
        expect(data.toString('utf8')).not.toContain(serial);

      // The OEM's opening: the salt that turns each serial into the entry's commitment.
      const opened = await oem('GET', `/api/v1/vehicles/${v.vinCommitment}/director/targets`);
      expect(opened.status).toBe(200);
      const body = (await opened.json()) as {
        vehicle: string;
        versions: {
          targetsVersion: number;
          targetsHash: string;
          logIndex: number;
          ecuSalt: string;
          metadata: string;
        }[];
      };
      expect(body.vehicle).toBe(v.vinCommitment);
      const version = body.versions.find((x) => x.targetsVersion === targetsVersion)!;
      expect(version).toMatchObject({ targetsHash: sha256(bytes), logIndex: promise.entry.index });
      expect(Buffer.from(version.metadata, 'base64')).toEqual(Buffer.from(bytes));
      const salt = Buffer.from(version.ecuSalt, 'hex');
      expect(entry.images.map((i) => i.ecu).sort()).toEqual(
        [v.ecuSerial, v.brake.serial, v.info.serial]
          .map((s) => computeEcuCommitment(s, salt))
          .sort(),
      );
      const versions = body.versions.map((x) => x.targetsVersion);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
    });

    it("opens a vehicle's ECU commitments only to an OEM token: 401 without one, 404 VEHICLE_NOT_FOUND for a vehicle it never knew", async () => {
      const v = await enroll();
      await register(v);
      await assignAll(v);
      const path = `/api/v1/vehicles/${v.vinCommitment}/director/targets`;
      expect((await fetch(`${server.url}${path}`)).status).toBe(401);
      const unknown = await oem('GET', `/api/v1/vehicles/${'0f'.repeat(32)}/director/targets`);
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'VEHICLE_NOT_FOUND' } });
      const audit = await (await fetch(`${server.url}/api/v1/audit/director-targets`)).text();
      expect(audit).not.toMatch(/ecuSalt|salt/i);
    });

    it('takes an ECU serial shaped like a VIN: it reaches the log only as a commitment', async () => {
      const v = await enroll();
      v.brake.serial = 'WAUZZZ8K9BA012345';
      await register(v);
      const { targetsVersion } = await assignAll(v);
      const res = await vehicleRequest(v, 'GET', `/director/log-promise?version=${targetsVersion}`);
      expect(res.status).toBe(200);
      const promise = (await res.json()) as { entry: { data: string } };
      expect(Buffer.from(promise.entry.data, 'base64').toString('utf8')).not.toContain(
        v.brake.serial,
      );
    });

    it('survives a Director root rotation: tuf-js follows root v2 and the vehicle gets metadata signed by the new keys', async () => {
      const v = await enroll();
      await register(v);
      const metadataDir = await trustDirector();
      await directorUpdater(v, metadataDir).refresh();
      const before = await currentTargetsVersion(v);
      let rotation = rotateRootCeremony(JSON.parse(new TextDecoder().decode(directorRoot)), {
        expires: new Date(Date.now() + 365 * DAY),
        targets: { keys: [nextDirectorTargets.publicKey], threshold: 1 },
      });
      for (const h of [rootHolders[0]!, rootHolders[1]!]) {
        rotation = await signRootCeremony(rotation, h);
      }
      const v2 = finalizeRootCeremony(rotation);
      const res = await oem('PUT', '/api/v1/director/root', v2, tokens.admin);
      expect(res.status).toBe(201);
      await directorUpdater(v, metadataDir).refresh();
      const after = await currentTargetsVersion(v);
      expect(after).toBeGreaterThan(before);
      const signatures = (
        (await (
          await vehicleRequest(v, 'GET', `/director/metadata/${after}.targets.json`)
        ).json()) as { signatures: { keyid: string }[] }
      ).signatures.map((x) => x.keyid);
      expect(signatures).toEqual([nextDirectorTargets.keyId]);
      const root2 = await vehicleRequest(v, 'GET', '/director/metadata/2.root.json', undefined, {
        unsigned: true,
      });
      expect(root2.status).toBe(200);
      await rm(metadataDir, { recursive: true, force: true });
    });
  });

  describe('ECU inventory', () => {
    it('keeps each change as a new version and answers the same inventory with changed: false', async () => {
      const v = await enroll();
      await register(v);
      const again = await vehicleRequest(v, 'PUT', '/api/v1/director/ecus', registration(v));
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ version: 1, changed: false });
      const changed = registration(v);
      changed.ecus[2]!.clientKey = clientKey(ed());
      const res = await vehicleRequest(v, 'PUT', '/api/v1/director/ecus', changed);
      expect(res.status).toBe(201);
      const history = await oem('GET', `/api/v1/vehicles/${v.vinCommitment}/ecus/history`);
      const { versions } = (await history.json()) as {
        versions: { version: number; signerSerial: string }[];
      };
      expect(versions.map((x) => x.version)).toEqual([1, 2]);
      expect(versions[1]!.signerSerial).toBe(v.serialNumber);
      // That the table itself refuses rewriting history: director-store-contract.int.test.ts.
    });

    it.each([
      {
        desc: 'a primary key that is not the vehicle certificate key',
        edit: (r: EcuRegistration) => {
          r.ecus[0]!.clientKey = clientKey(
            createKeySigner(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey),
          );
        },
        status: 422,
        wantCode: 'ECU_REGISTRATION_INVALID',
      },
      {
        desc: 'a primary that is not the certificate ECU',
        edit: (r: EcuRegistration) => {
          r.primary_ecu_serial = r.ecus[1]!.ecu_serial;
          r.ecus[0]!.primary = false;
          r.ecus[1]!.primary = true;
        },
        status: 422,
        wantCode: 'ECU_REGISTRATION_INVALID',
      },
      {
        desc: 'an ECU listed twice',
        edit: (r: EcuRegistration) => {
          r.ecus.push({ ...r.ecus[1]! });
        },
        status: 400,
        wantCode: 'INVALID_REQUEST',
      },
    ])(
      'refuses $desc with $wantCode and keeps the inventory',
      async ({ edit, status, wantCode }) => {
        const v = await enroll();
        await register(v);
        const r = registration(v);
        edit(r);
        const res = await vehicleRequest(v, 'PUT', '/api/v1/director/ecus', r);
        expect(res.status).toBe(status);
        expect(await codeOf(res)).toBe(wantCode);
        const history = await oem('GET', `/api/v1/vehicles/${v.vinCommitment}/ecus/history`);
        expect(((await history.json()) as { versions: unknown[] }).versions).toHaveLength(1);
      },
    );
  });

  describe('assignments', () => {
    it('lists and cancels; a cancelled assignment leaves the next targets version empty', async () => {
      const v = await enroll();
      await register(v);
      const { id, targetsVersion } = await assignAll(v);
      const listed = await oem('GET', `/api/v1/director/assignments?vehicle=${v.vinCommitment}`);
      expect(
        ((await listed.json()) as { assignments: { id: number }[] }).assignments.map((a) => a.id),
      ).toEqual([id]);
      const cancel = await oem('POST', `/api/v1/director/assignments/${id}/cancel`);
      expect(cancel.status).toBe(200);
      const body = (await cancel.json()) as {
        assignment: { status: string };
        targetsVersion: number;
      };
      expect(body.assignment.status).toBe('cancelled');
      expect(body.targetsVersion).toBe(targetsVersion + 1);
      expect((await targetsOf(v, body.targetsVersion)).targets).toEqual({});
      const again = await oem('POST', `/api/v1/director/assignments/${id}/cancel`);
      expect(again.status).toBe(409);
      expect(await codeOf(again)).toBe('ASSIGNMENT_NOT_ACTIVE');
    });
  });

  describe('the OEM CLI', () => {
    async function tufchain(args: string[]): Promise<{ code: number; out: unknown }> {
      const out: string[] = [];
      const code = await runCli([...args, '--json'], {
        env: { server: server.url, token: tokens.assign },
        io: {
          stdout: (s) => void out.push(s),
          stderr: () => undefined,
          stderrRaw: () => undefined,
          stderrIsTty: false,
        },
        fetch,
      });
      return { code, out: JSON.parse(out.join('\n')) as unknown };
    }

    it('assigns, lists and cancels with tufchain director, and exits 1 with the server code on a refusal', async () => {
      const v = await enroll();
      await register(v);
      const assigned = await tufchain([
        'director',
        'assign',
        v.vinCommitment,
        '--image',
        `${v.brake.serial}=${IMAGES.brake.name}`,
      ]);
      expect(assigned.code).toBe(0);
      const { assignment } = assigned.out as { assignment: { id: number; atomic: boolean } };
      expect(assignment.atomic).toBe(false);
      const listed = await tufchain(['director', 'list', '--vehicle', v.vinCommitment]);
      expect(
        (listed.out as { assignments: { id: number }[] }).assignments.map((a) => a.id),
      ).toEqual([assignment.id]);
      const cancelled = await tufchain(['director', 'cancel', String(assignment.id)]);
      expect(cancelled.code).toBe(0);
      expect((cancelled.out as { assignment: { status: string } }).assignment.status).toBe(
        'cancelled',
      );
      const refused = await tufchain([
        'director',
        'assign',
        v.vinCommitment,
        '--image',
        `${v.brake.serial}=${IMAGES.info.name}`,
      ]);
      expect(refused.code).toBe(1);
      expect((refused.out as { error: { code: string } }).error.code).toBe('HARDWARE_ID_MISMATCH');
    });
  });

  describe('refusals (each leaves the assignments and the targets version unchanged)', () => {
    let v: Vehicle;
    beforeAll(async () => {
      v = await enroll();
      await register(v);
    });

    it.each([
      {
        desc: 'an image the image repository does not hold',
        body: (x: Vehicle) => ({
          vehicle: x.vinCommitment,
          images: [{ ecuSerial: x.brake.serial, name: 'brk-9.9.9.bin' }],
        }),
        token: () => tokens.assign,
        status: 422,
        wantCode: 'IMAGE_NOT_IN_REPOSITORY',
      },
      {
        desc: 'an image for another hardware ID than the ECU',
        body: (x: Vehicle) => ({
          vehicle: x.vinCommitment,
          images: [{ ecuSerial: x.brake.serial, name: IMAGES.info.name }],
        }),
        token: () => tokens.assign,
        status: 422,
        wantCode: 'HARDWARE_ID_MISMATCH',
      },
      {
        desc: 'an image whose name looks like a VIN (it would reach the log in clear)',
        body: (x: Vehicle) => ({
          vehicle: x.vinCommitment,
          images: [{ ecuSerial: x.brake.serial, name: IMAGES.vinNamed.name }],
        }),
        token: () => tokens.assign,
        status: 422,
        wantCode: 'PERSONAL_DATA_REJECTED',
      },
      {
        desc: 'an ECU the vehicle never registered',
        body: (x: Vehicle) => ({
          vehicle: x.vinCommitment,
          images: [{ ecuSerial: 'BRK-NOPE', name: IMAGES.brake.name }],
        }),
        token: () => tokens.assign,
        status: 422,
        wantCode: 'ECU_UNKNOWN',
      },
      {
        desc: 'a vehicle that registered no ECUs',
        body: () => ({
          vehicle: 'f'.repeat(64),
          images: [{ ecuSerial: 'BRK-1', name: IMAGES.brake.name }],
        }),
        token: () => tokens.assign,
        status: 422,
        wantCode: 'ECU_UNKNOWN',
      },
      {
        desc: 'no token',
        body: (x: Vehicle) => ({
          vehicle: x.vinCommitment,
          images: [{ ecuSerial: x.brake.serial, name: IMAGES.brake.name }],
        }),
        token: () => '',
        status: 401,
        wantCode: 'UNAUTHENTICATED',
      },
      {
        desc: 'a publish token (no director:assign scope)',
        body: (x: Vehicle) => ({
          vehicle: x.vinCommitment,
          images: [{ ecuSerial: x.brake.serial, name: IMAGES.brake.name }],
        }),
        token: () => tokens.publish,
        status: 403,
        wantCode: 'INSUFFICIENT_SCOPE',
      },
    ])(
      'POST /api/v1/director/assignments with $desc: $status $wantCode',
      async ({ body, token, status, wantCode }) => {
        const before = await currentTargetsVersion(v);
        const res = await oem('POST', '/api/v1/director/assignments', body(v), token());
        expect(res.status).toBe(status);
        expect(await codeOf(res)).toBe(wantCode);
        const list = await oem('GET', `/api/v1/director/assignments?vehicle=${v.vinCommitment}`);
        expect(((await list.json()) as { assignments: unknown[] }).assignments).toEqual([]);
        expect(await currentTargetsVersion(v)).toBe(before);
      },
    );

    it.each([
      { desc: 'no token', token: () => '', status: 401, wantCode: 'UNAUTHENTICATED' },
      {
        desc: 'a publish token',
        token: () => tokens.publish,
        status: 403,
        wantCode: 'INSUFFICIENT_SCOPE',
      },
    ])(
      'POST /api/v1/director/assignments/{id}/cancel with $desc: $status $wantCode, still active',
      async ({ token, status, wantCode }) => {
        const x = await enroll();
        await register(x);
        const { id } = await assignAll(x);
        const res = await oem(
          'POST',
          `/api/v1/director/assignments/${id}/cancel`,
          undefined,
          token(),
        );
        expect(res.status).toBe(status);
        expect(await codeOf(res)).toBe(wantCode);
        const one = await oem('GET', `/api/v1/director/assignments/${id}`);
        expect(((await one.json()) as { status: string }).status).toBe('active');
      },
    );

    it.each([
      { desc: 'no token', token: () => '', status: 401, wantCode: 'UNAUTHENTICATED' },
      {
        desc: 'a director:assign token',
        token: () => tokens.assign,
        status: 403,
        wantCode: 'INSUFFICIENT_SCOPE',
      },
    ])(
      'PUT /api/v1/director/root with $desc: $status $wantCode',
      async ({ token, status, wantCode }) => {
        const res = await oem(
          'PUT',
          '/api/v1/director/root',
          { signed: {}, signatures: [] },
          token(),
        );
        expect(res.status).toBe(status);
        expect(await codeOf(res)).toBe(wantCode);
      },
    );

    const signedRoutes = [
      { method: 'PUT', path: '/api/v1/director/ecus', body: (x: Vehicle) => registration(x) },
      {
        method: 'POST',
        path: '/api/v1/director/manifest',
        body: (x: Vehicle): unknown => ({ signatures: [], signed: { vehicle: x.vinCommitment } }),
      },
      { method: 'GET', path: '/director/metadata/timestamp.json', body: () => undefined },
    ];
    it.each(
      signedRoutes.flatMap((r) => [
        {
          ...r,
          desc: 'unsigned',
          opts: { unsigned: true },
          status: 401,
          wantCode: 'VEHICLE_SIGNATURE_MISSING',
        },
        {
          ...r,
          desc: 'signed 10 minutes ago',
          opts: { created: new Date(Date.now() - 10 * 60 * 1000) },
          status: 401,
          wantCode: 'VEHICLE_SIGNATURE_STALE',
        },
        ...(r.method === 'GET'
          ? []
          : [
              {
                ...r,
                desc: 'with a body changed after signing',
                opts: { tamperBody: (b: string) => b.replace(/"$/, ' "').replace(/}$/, ' }') },
                status: 401,
                wantCode: 'VEHICLE_SIGNATURE_INVALID',
              },
            ]),
      ]),
    )(
      '$method $path $desc: $status $wantCode',
      async ({ method, path, body, opts, status, wantCode }) => {
        const before = await oem('GET', `/api/v1/vehicles/${v.vinCommitment}/ecus/history`);
        const res = await vehicleRequest(v, method, path, body(v), opts);
        expect(res.status).toBe(status);
        expect(await codeOf(res)).toBe(wantCode);
        const after = await oem('GET', `/api/v1/vehicles/${v.vinCommitment}/ecus/history`);
        expect(await after.json()).toEqual(await before.json());
      },
    );

    it('refuses a revoked vehicle with VEHICLE_REVOKED and a never-enrolled certificate serial with VEHICLE_UNKNOWN', async () => {
      const x = await enroll();
      await register(x);
      const revoke = await oem(
        'POST',
        `/api/v1/vehicles/${x.serialNumber}/revoke`,
        { reason: 'keyCompromise' },
        tokens.admin,
      );
      expect(revoke.status).toBe(200);
      const res = await vehicleRequest(x, 'GET', '/director/metadata/timestamp.json');
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe('VEHICLE_REVOKED');
      const unknown = await vehicleRequest(
        { serialNumber: 'abcdef0123', signer: x.signer },
        'GET',
        '/director/metadata/timestamp.json',
      );
      expect(unknown.status).toBe(422);
      expect(await codeOf(unknown)).toBe('VEHICLE_UNKNOWN');
    });
  });

  describe('vehicle version manifests', () => {
    async function submit(v: Vehicle, m: unknown): Promise<Response> {
      return vehicleRequest(v, 'POST', '/api/v1/director/manifest', m);
    }
    async function manifestCount(v: Vehicle): Promise<number> {
      const res = await oem('GET', `/api/v1/vehicles/${v.vinCommitment}/manifests`);
      return ((await res.json()) as { manifests: unknown[] }).manifests.length;
    }
    type Flags = { flags: { ecuSerial: string; flag: string }[] };

    it('completes the assignment when every ECU reports its assigned image, and the next targets version is empty', async () => {
      const v = await enroll();
      await register(v);
      const first = await submit(v, await manifest(v, factory));
      expect(first.status).toBe(201);
      expect(((await first.json()) as Flags).flags).toEqual([]);
      const { id, targetsVersion } = await assignAll(v);
      const partly = await submit(v, await manifest(v, { ...factory, brake: IMAGES.brake.name }));
      expect(
        ((await partly.json()) as { completedAssignments: number[] }).completedAssignments,
      ).toEqual([]);
      const done = await submit(v, await manifest(v, assigned));
      expect(done.status).toBe(201);
      const body = (await done.json()) as Flags & {
        completedAssignments: number[];
        targetsVersion: number;
      };
      expect(body.flags).toEqual([]);
      expect(body.completedAssignments).toEqual([id]);
      expect(body.targetsVersion).toBe(targetsVersion + 1);
      expect((await targetsOf(v, body.targetsVersion)).targets).toEqual({});
      const one = await oem('GET', `/api/v1/director/assignments/${id}`);
      expect(((await one.json()) as { status: string }).status).toBe('completed');
    });

    it('answers the same manifest sent twice as a duplicate, without flags for its own nonce', async () => {
      const v = await enroll();
      await register(v);
      const m = await manifest(v, factory);
      expect((await submit(v, m)).status).toBe(201);
      const again = await submit(v, m);
      expect(again.status).toBe(200);
      expect((await again.json()) as { duplicate: boolean } & Flags).toMatchObject({
        duplicate: true,
        flags: [],
      });
    });

    it.each([
      {
        desc: 'an ECU report whose signature by its registered key is forged',
        build: async (v: Vehicle) => {
          const m = await manifest(v, factory);
          const brake = m.signed.ecu_version_manifests[v.brake.serial]!;
          brake.signed.installed_image = {
            filepath: IMAGES.brake.name,
            fileinfo: fileinfo(IMAGES.brake.name),
          };
          return signEnvelope(m.signed, [v.signer]);
        },
        wantCode: 'MANIFEST_SIGNATURE_INVALID',
      },
      {
        desc: 'a manifest not signed by the primary',
        build: async (v: Vehicle) => {
          const m = await manifest(v, factory);
          return signEnvelope(m.signed, [v.info.signer]);
        },
        wantCode: 'MANIFEST_SIGNATURE_INVALID',
      },
      {
        desc: 'a manifest naming another vehicle',
        build: async (v: Vehicle) => {
          const m = await manifest(v, factory);
          return signEnvelope({ ...m.signed, vehicle: 'e'.repeat(64) }, [v.signer]);
        },
        wantCode: 'MANIFEST_VEHICLE_MISMATCH',
      },
    ])('refuses $desc with 422 $wantCode and records nothing', async ({ build, wantCode }) => {
      const v = await enroll();
      await register(v);
      const res = await submit(v, await build(v));
      expect(res.status).toBe(422);
      expect(await codeOf(res)).toBe(wantCode);
      expect(await manifestCount(v)).toBe(0);
    });

    it.each([
      {
        desc: 'a report signed by another ECU of the vehicle',
        next: (v: Vehicle) => manifest(v, factory, { signers: { brake: v.info.signer } }),
        flag: 'ECU_KEY_MISMATCH',
        ecu: (v: Vehicle) => v.brake.serial,
      },
      {
        desc: 'a replayed nonce',
        next: async (v: Vehicle) => manifest(v, factory, { nonce: 'ab'.repeat(16) }),
        flag: 'NONCE_REPLAYED',
        ecu: (v: Vehicle) => v.info.serial,
      },
      {
        desc: 'a counter going back',
        next: (v: Vehicle) => manifest(v, factory, { counter: 1 }),
        flag: 'REPORT_COUNTER_REPLAYED',
        ecu: (v: Vehicle) => v.brake.serial,
      },
      {
        desc: 'an image never assigned',
        next: (v: Vehicle) => manifest(v, { ...factory, info: IMAGES.info.name }),
        flag: 'IMAGE_NOT_ASSIGNED',
        ecu: (v: Vehicle) => v.info.serial,
      },
    ])(
      'records and flags $desc as $flag; an assignment does not complete on it',
      async ({ next, flag, ecu }) => {
        const v = await enroll();
        await register(v);
        // The first manifest fixes the factory images and uses nonce ab…ab.
        expect(
          (await submit(v, await manifest(v, factory, { nonce: 'ab'.repeat(16) }))).status,
        ).toBe(201);
        expect((await submit(v, await manifest(v, factory))).status).toBe(201);
        const res = await submit(v, await next(v));
        expect(res.status).toBe(201);
        const flags = ((await res.json()) as Flags).flags;
        expect(flags).toContainEqual(expect.objectContaining({ ecuSerial: ecu(v), flag }));
        expect(await manifestCount(v)).toBe(3);
      },
    );

    it('does not complete an assignment on a report replayed from before (counter not above the last)', async () => {
      const v = await enroll();
      await register(v);
      const { id } = await assignAll(v);
      v.counter = 9; // the next manifest's reports carry counter 10
      expect((await submit(v, await manifest(v, factory))).status).toBe(201);
      const res = await submit(v, await manifest(v, assigned, { counter: 10 }));
      const body = (await res.json()) as Flags & { completedAssignments: number[] };
      expect(body.completedAssignments).toEqual([]);
      expect(body.flags.filter((f) => f.flag === 'REPORT_COUNTER_REPLAYED')).toHaveLength(3);
      const one = await oem('GET', `/api/v1/director/assignments/${id}`);
      expect(((await one.json()) as { status: string }).status).toBe('active');
    });
  });
});
