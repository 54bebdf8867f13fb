/**
 * A vehicle of three ECUs on real parts, shared by `npm run demo` and director.e2e.test.ts:
 * anvil, the Hono server on SQLite with its Uptane Director (root from the OEM CLI's ceremony,
 * online keys in encrypted key files), a vehicle enrolled with a real certificate, its primary
 * (`tufchain-agent register-ecus`, `run-once`) and two `tufchain-agent secondary` processes (one
 * full, one partial verification) on Unix sockets. The OEM assigns three images with
 * `tufchain director assign`; all three ECUs switch together; then a compromised Director key
 * signs metadata the log never saw, and the primary must refuse it.
 */
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enrollVehicle, FileSlotStore, type EnrolledVehicle } from '@tufchain/client-agent';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';
import {
  computeVinCommitment,
  createFileSigner,
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
  writeEncryptedKeyFile,
  type Signer,
} from '@tufchain/keys';
import {
  createApiToken,
  initDirectorFromRoot,
  initRepository,
  openRepository,
  openServerLog,
  startServer,
  type OpenedRepository,
  type RunningServer,
  type ServerLog,
} from '@tufchain/server';
import {
  auditRepository,
  ChainReader,
  createHttpAuditSource,
  createHttpLogAuditSource,
  createNoteVerifier,
  formatVerifierKey,
  ReleaseLogWriter,
  type AuditResult,
} from '@tufchain/transparency';
import { signVehicleRequest } from '@tufchain/transparency/wire';
import { pino } from 'pino';
import { startSecondaryProcess, type SecondaryProcess } from './secondary-process.js';
import { runCli } from '../../server/src/cli/run.js';
import { startRogueDirector } from './hacker.js';
import type { Narrate } from './scenario.js';

export const VEHICLE_LOG_ORIGIN = 'acme.example/tufchain-log';
const AGENT_BIN = fileURLToPath(new URL('../../client-agent/bin/tufchain-agent', import.meta.url));
const PASSPHRASE_BYTES = 24;

export const ECUS = {
  gateway: { serial: 'GW-0042', hardwareId: 'gateway-x1', kind: 'primary' },
  brake: { serial: 'BRK-0042', hardwareId: 'brake-b7', kind: 'partial' },
  infotainment: { serial: 'IVI-0042', hardwareId: 'infotainment-i3', kind: 'full' },
} as const;
type EcuName = keyof typeof ECUS;

const RELEASES = [
  { ecu: 'gateway', name: 'gateway-2.0.0.img', version: '2.0.0', counter: 20 },
  { ecu: 'brake', name: 'brake-2.4.0.bin', version: '2.4.0', counter: 12 },
  { ecu: 'infotainment', name: 'ivi-5.0.0.bin', version: '5.0.0', counter: 50 },
  // Published and logged, but never assigned to this vehicle by the OEM: the rogue Director's pick.
  { ecu: 'brake', name: 'brake-2.5.0-rc1.bin', version: '2.5.0-rc1', counter: 13 },
] as const;

export interface EcuState {
  serial: string;
  kind: 'primary' | 'full' | 'partial';
  before: string | undefined;
  after: string | undefined;
  assigned: string;
}

export interface VehicleRun {
  status: string;
  code?: string;
  director: { targetsVersion: number; correlationId: string | null };
  ecus: { serial: string; outcome: string }[];
  reports?: { id: string; ecuSerial: string; sent: boolean }[];
  manifest?: { sent: boolean; status?: number };
}

export interface VehicleActResult {
  vinCommitment: string;
  registration: { status: number; changed: boolean; ecus: string[] };
  assignment: { id: number; targetsVersion: number; statusAfter: string };
  run: VehicleRun;
  ecus: EcuState[];
  again: { status: string };
  audit: AuditResult;
  attack: {
    exitCode: number | null;
    refusedWith: string | undefined;
    rogueTargetsVersion: number;
    before: Record<string, string | undefined>;
    after: Record<string, string | undefined>;
  };
}

interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function agent(configPath: string, args: string[], passphrase: string): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(AGENT_BIN, [...args, '--config', configPath, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TUFCHAIN_VEHICLE_PASSPHRASE: passphrase },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function lastJson<T>(run: AgentRun): T {
  const line = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`tufchain-agent printed no JSON (exit ${run.code}): ${run.stderr}`);
  }
}

function image(name: string, size = 64 * 1024): Uint8Array {
  const out = new Uint8Array(size);
  let block = createHash('sha256').update(`acme firmware ${name}`).digest();
  for (let off = 0; off < size; off += block.length) {
    out.set(block.subarray(0, Math.min(block.length, size - off)), off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function activeDigest(slots: FileSlotStore): Promise<string | undefined> {
  const st = await slots.readState();
  return st.slots[st.active]?.sha256;
}

/** The OEM command line (`tufchain …`), in process, as an operator runs it. */
async function tufchain(
  args: string[],
  env: { keyPassphrase?: string; server?: string; token?: string },
): Promise<unknown> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--json'], {
    env,
    io: {
      stdout: (s) => void out.push(s),
      stderr: (s) => void err.push(s),
      stderrRaw: () => undefined,
      stderrIsTty: false,
    },
    fetch,
  });
  if (code !== 0) throw new Error(`tufchain ${args.join(' ')}: exit ${code}: ${err.join('\n')}`);
  return JSON.parse(out.join('\n')) as unknown;
}

export async function runVehicleAct(opts: {
  dataDir: string;
  narrate?: Narrate;
}): Promise<VehicleActResult> {
  const say: Narrate = opts.narrate ?? (() => undefined);
  if ((await readdir(opts.dataDir).catch(() => [])).length > 0) {
    throw new Error(`data dir ${opts.dataDir} is not empty: the act starts from nothing`);
  }
  const oemDir = join(opts.dataDir, 'oem');
  const vehicleDir = join(opts.dataDir, 'vehicle');
  await mkdir(oemDir, { recursive: true, mode: 0o700 });
  await mkdir(vehicleDir, { recursive: true });

  let chain: TestChain | undefined;
  let repo: OpenedRepository | undefined;
  let log: ServerLog | undefined;
  let server: RunningServer | undefined;
  let reader: ChainReader | undefined;
  const secondaries: SecondaryProcess[] = [];
  let rogue: Awaited<ReturnType<typeof startRogueDirector>> | undefined;
  try {
    // 1. the Director's keys and root, with the OEM's ceremony tooling
    const keyPassphrase = randomBytes(PASSPHRASE_BYTES).toString('base64url');
    const keyFile = (n: string) => join(oemDir, `director-${n}.key`);
    for (const [n, type] of [
      ['root-1', 'ed25519'],
      ['root-2', 'ecdsa-p256'],
      ['targets', 'ed25519'],
      ['snapshot', 'ed25519'],
      ['timestamp', 'ecdsa-p256'],
    ] as const) {
      await tufchain(['keys', 'generate', '--type', type, '--out', keyFile(n)], { keyPassphrase });
    }
    const ceremony = join(oemDir, 'director-root-ceremony.json');
    const directorRootPath = join(oemDir, 'director-1.root.json');
    await tufchain(
      [
        'repo',
        'init',
        '--root-key',
        `${keyFile('root-1')}.pub`,
        '--root-key',
        `${keyFile('root-2')}.pub`,
        '--threshold',
        '2',
        '--targets-key',
        `${keyFile('targets')}.pub`,
        '--snapshot-key',
        `${keyFile('snapshot')}.pub`,
        '--timestamp-key',
        `${keyFile('timestamp')}.pub`,
        '--out',
        ceremony,
      ],
      {},
    );
    for (const holder of ['root-1', 'root-2'])
      await tufchain(['sign', '--role', 'root', ceremony, '--key', keyFile(holder)], {
        keyPassphrase,
      });
    await tufchain(['repo', 'finalize', ceremony, '--out', directorRootPath], {});
    const directorRoot = new Uint8Array(
      await (await import('node:fs/promises')).readFile(directorRootPath),
    );
    const directorSigners = {
      targets: await createFileSigner(keyFile('targets'), keyPassphrase),
      snapshot: await createFileSigner(keyFile('snapshot'), keyPassphrase),
      timestamp: await createFileSigner(keyFile('timestamp'), keyPassphrase),
    };
    say(
      'OEM',
      `Director root v1 made offline with tufchain keys generate / repo init / sign --role root (2 of 2) / repo finalize; online Director keys in encrypted key files`,
    );

    // 2. chain, image repository, Director, log
    chain = await startTestChain();
    const releaseLog = new ReleaseLogWriter({
      signer: chain.publisher,
      contractAddress: chain.address,
      confirmations: 1,
    });
    const key = (type: 'ed25519' | 'ecdsa-p256'): Signer =>
      createKeySigner(generateKeyPair(type).privateKey);
    const online = {
      targets: key('ed25519'),
      snapshot: key('ed25519'),
      timestamp: key('ecdsa-p256'),
    };
    const buildKey = key('ecdsa-p256');
    const ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    repo = await openRepository({ dataDir: join(opts.dataDir, 'server') });
    const { rootBytes } = await initRepository({
      store: repo.store,
      rootSigners: [key('ed25519'), key('ed25519')],
      threshold: 2,
      onlineSigners: online,
      releaseLog,
    });
    await initDirectorFromRoot({
      store: repo.director,
      rootBytes: directorRoot,
      signers: directorSigners,
      clock: () => new Date(),
    });
    const noteKey = generateKeyPairSync('ed25519').privateKey;
    const logKey = formatVerifierKey(VEHICLE_LOG_ORIGIN, createPublicKey(noteKey));
    log = await openServerLog({
      dataDir: join(opts.dataDir, 'server'),
      origin: VEHICLE_LOG_ORIGIN,
      noteKey,
      logger: pino({ level: 'silent' }),
    });
    server = await startServer({
      port: 0,
      deps: {
        store: repo.store,
        blobs: repo.blobs,
        signers: online,
        releaseLog,
        firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
        vehicleCa: ca,
        vehicleEnrollment: { certificateValidDays: 365 },
        transparencyLog: log,
        director: { store: repo.director, signers: directorSigners },
        logger: pino({ level: 'silent' }),
      },
    });
    const token = async (scopes: ('enroll' | 'publish' | 'director:assign')[]) =>
      (await createApiToken(repo!.store, { name: scopes.join(','), scopes })).token;
    const tokens = {
      enroll: await token(['enroll']),
      publish: await token(['publish']),
      assign: await token(['director:assign']),
    };
    say(
      'server',
      `image repository + Uptane Director on ${server.url}; Director targets are logged in ${VEHICLE_LOG_ORIGIN} before they are served`,
    );

    // 3. firmware for each ECU type, published through the image repository (logged on chain)
    const images = new Map<string, Uint8Array>();
    const publish = async (releases: readonly (typeof RELEASES)[number][]): Promise<number> => {
      const targets = [];
      for (const r of releases) {
        const bytes = image(r.name);
        images.set(r.name, bytes);
        const put = await fetch(`${server!.url}/api/v1/firmware/${r.name}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${tokens.publish}` },
          body: bytes,
        });
        if (put.status !== 201) throw new Error(`upload of ${r.name}: HTTP ${put.status}`);
        const claims = {
          hardwareIds: [ECUS[r.ecu].hardwareId],
          version: r.version,
          releaseCounter: r.counter,
        };
        const attestation = await signFirmwareAttestation(
          { name: r.name, sha256: sha256(bytes), ...claims },
          buildKey,
        );
        targets.push({ name: r.name, ...claims, attestation });
      }
      const published = await fetch(`${server!.url}/api/v1/releases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.publish}`, 'content-type': 'application/json' },
        body: JSON.stringify({ targets }),
      });
      if (published.status !== 201)
        throw new Error(`publish: HTTP ${published.status} ${await published.text()}`);
      return ((await published.json()) as { release: { metadataVersion: number } }).release
        .metadataVersion;
    };
    const firstRelease = await publish(RELEASES.slice(0, 3));
    say(
      'OEM',
      `published ${RELEASES.slice(0, 3)
        .map((r) => r.name)
        .join(
          ', ',
        )} (one per ECU type, attested by the build key) in snapshot v${firstRelease}, logged on chain`,
    );

    // 4. the vehicle: enrolled at the factory, its primary's settings, two secondary processes
    const vinCommitment = computeVinCommitment('WAC9D1234RZ000042', randomBytes(32));
    const vehicle: EnrolledVehicle = await enrollVehicle({
      serverUrl: server.url,
      factoryToken: tokens.enroll,
      vinCommitment,
      ecuSerial: ECUS.gateway.serial,
      caCertificatePem: ca.certificatePem,
    });
    const vehiclePassphrase = randomBytes(PASSPHRASE_BYTES).toString('base64url');
    await writeEncryptedKeyFile(
      join(vehicleDir, 'vehicle.key'),
      vehicle.privateKey,
      vehiclePassphrase,
    );
    await writeFile(join(vehicleDir, 'vehicle.pem'), vehicle.certificatePem);
    await writeFile(join(vehicleDir, 'root.json'), rootBytes);
    await writeFile(join(vehicleDir, 'director-root.json'), directorRoot);
    await writeFile(join(vehicleDir, 'firmware.pem'), buildKey.publicKeyPem());
    const primarySlots = await FileSlotStore.provision(join(vehicleDir, 'slots'), {
      image: image('gateway factory 1.0.0'),
      name: 'gateway-1.0.0.img',
      version: '1.0.0',
      releaseCounter: 1,
    });
    say(
      'factory',
      `vehicle enrolled: certificate ${vehicle.serialNumber.slice(0, 12)}… for primary ${ECUS.gateway.serial}, VIN commitment ${vinCommitment.slice(0, 16)}…`,
    );
    const chainSettings = {
      rpcUrls: [chain.chain.rpcUrl],
      contractAddress: chain.address,
      confirmations: 1,
      chainId: chain.chain.chainId,
      fromBlock: chain.deployBlock,
    };
    for (const name of ['brake', 'infotainment'] as const) {
      const ecu = ECUS[name];
      secondaries.push(
        await startSecondaryProcess({
          dir: vehicleDir,
          serial: ecu.serial,
          hardwareId: ecu.hardwareId,
          verification: ecu.kind,
          directorRoot,
          ...(ecu.kind === 'full'
            ? {
                full: {
                  imageRoot: rootBytes,
                  ...chainSettings,
                  vehicleCommitment: vinCommitment,
                  logKeys: [logKey],
                  logOrigin: VEHICLE_LOG_ORIGIN,
                },
              }
            : {}),
        }),
      );
      say(
        ecu.serial,
        `tufchain-agent secondary pid ${secondaries.at(-1)!.child.pid} (${ecu.kind} verification, own ed25519 key and A/B slots) on ${secondaries.at(-1)!.address.replace(opts.dataDir, '…')}`,
      );
    }
    const settings = (directorUrl?: string) => ({
      serverUrl: server!.url,
      hardwareId: ECUS.gateway.hardwareId,
      ecuSerial: ECUS.gateway.serial,
      metadataDir: 'metadata',
      stateDir: 'state',
      slotsDir: 'slots',
      trustedRootPath: 'root.json',
      chain: chainSettings,
      firmwareKey: { publicKeyPath: 'firmware.pem', keyId: buildKey.keyId },
      vehicle: { keyPath: 'vehicle.key', certificatePath: 'vehicle.pem', vinCommitment },
      director: {
        ...(directorUrl ? { url: directorUrl } : {}),
        trustedRootPath: 'director-root.json',
        metadataDir: 'director-metadata',
        logKeys: [logKey],
        logOrigin: VEHICLE_LOG_ORIGIN,
      },
      secondaries: secondaries.map((s) => ({
        ecuSerial: s.serial,
        hardwareId: s.hardwareId,
        kind: s.verification,
        address: s.address,
        publicKeyPath: s.publicKeyPath,
      })),
    });
    const configPath = join(vehicleDir, 'agent.json');
    await writeFile(configPath, JSON.stringify(settings()));
    const slotsOf: Record<EcuName, FileSlotStore> = {
      gateway: primarySlots,
      brake: secondaries[0]!.slots,
      infotainment: secondaries[1]!.slots,
    };
    const digests = async () =>
      Object.fromEntries(
        await Promise.all(
          (Object.keys(ECUS) as EcuName[]).map(
            async (n) => [ECUS[n].serial, await activeDigest(slotsOf[n])] as const,
          ),
        ),
      );

    // 5. the primary registers the inventory, the OEM assigns three images together
    const registered = await agent(configPath, ['register-ecus'], vehiclePassphrase);
    if (registered.code !== 0)
      throw new Error(
        `register-ecus: exit ${registered.code}: ${registered.stdout} ${registered.stderr}`,
      );
    const reg = lastJson<{
      status: number;
      changed: boolean;
      registration: { ecus: { ecu_serial: string; verification?: string }[] };
    }>(registered);
    say(
      'vehicle',
      `tufchain-agent register-ecus: HTTP ${reg.status}, inventory ${reg.registration.ecus.map((e) => `${e.ecu_serial}${e.verification ? ` (${e.verification})` : ' (primary)'}`).join(', ')} (request signed with the vehicle key, RFC 9421)`,
    );
    const assigned = (await tufchain(
      [
        'director',
        'assign',
        vinCommitment,
        ...RELEASES.slice(0, 3).flatMap((r) => ['--image', `${ECUS[r.ecu].serial}=${r.name}`]),
      ],
      { server: server.url, token: tokens.assign },
    )) as { assignment: { id: number; correlationId: string }; targetsVersion: number };
    say(
      'OEM',
      `tufchain director assign: assignment #${assigned.assignment.id} (atomic, ${assigned.assignment.correlationId}); Director targets v${assigned.targetsVersion} for this vehicle only, logged first`,
    );

    // 6. one cycle of the primary: all three switch together
    const before = await digests();
    const cycle = await agent(configPath, ['run-once'], vehiclePassphrase);
    if (cycle.code !== 0)
      throw new Error(`run-once: exit ${cycle.code}: ${cycle.stdout} ${cycle.stderr}`);
    const run = lastJson<VehicleRun>(cycle);
    const after = await digests();
    say(
      'vehicle',
      `tufchain-agent run-once: Director targets v${run.director.targetsVersion} verified (this vehicle, the log's signed promise for exactly these bytes); every image checked in the image repository and on chain`,
    );
    say(
      'vehicle',
      `${run.status}: ${run.ecus.map((e) => `${e.serial} ${e.outcome}`).join(', ')} — prepared on every ECU first, then switched, health-checked and committed together`,
    );
    say(
      'vehicle',
      `one install attestation per ECU signed with the vehicle key (a secondary's carries its own signed result); accepted: ${
        (run.reports ?? [])
          .filter((r) => r.sent)
          .map((r) => r.ecuSerial)
          .join(', ') || 'none'
      }${
        (run.reports ?? []).some((r) => !r.sent)
          ? `; refused: ${(run.reports ?? [])
              .filter((r) => !r.sent)
              .map((r) => r.ecuSerial)
              .join(
                ', ',
              )} (known gap: the server's report intake does not yet take a primary's report for a secondary)`
          : ''
      }; vehicle version manifest ${run.manifest?.sent ? `sent (HTTP ${run.manifest.status})` : 'queued'}`,
    );
    const status = (await (
      await fetch(`${server.url}/api/v1/director/assignments/${assigned.assignment.id}`, {
        headers: { authorization: `Bearer ${tokens.assign}` },
      })
    ).json()) as { status?: string };
    const statusAfter = status.status ?? '?';
    say(
      'server',
      `assignment #${assigned.assignment.id} ${statusAfter}: the manifest shows every ECU on its image`,
    );
    const againRun = await agent(configPath, ['run-once'], vehiclePassphrase);
    const again = lastJson<{ status: string }>(againRun);
    say('vehicle', `next cycle: ${again.status}`);

    reader = new ChainReader({
      rpcUrls: [chain.chain.rpcUrl],
      quorum: 1,
      contractAddress: chain.address,
      confirmations: 1,
      chainId: chain.chain.chainId,
      fromBlock: chain.deployBlock,
    });
    // The log signs a checkpoint of everything appended so far, as it does before anchoring.
    await log.log.checkpoint();
    const audit = await auditRepository({
      chain: reader,
      // An OEM token opens the Director's ECU commitments and registered ECU keys.
      source: createHttpAuditSource(server.url, { oemToken: tokens.assign }),
      trustedRoot: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
      vehicleCaPem: ca.certificatePem,
      firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
      log: {
        source: createHttpLogAuditSource(server.url),
        verifiers: [createNoteVerifier(VEHICLE_LOG_ORIGIN, createPublicKey(noteKey))],
        origin: VEHICLE_LOG_ORIGIN,
      },
    });
    say('auditor', `replayed ${JSON.stringify(audit.stats)}; ${audit.findings.length} finding(s)`);
    for (const f of audit.findings) say('auditor', `  ${f.severity} ${f.code}: ${f.message}`);

    // 7. the attack: the Director's online keys stolen, metadata signed that the log never saw
    const vehicleGet = async (path: string): Promise<Uint8Array> => {
      const url = `${server!.url}${path}`;
      const headers = await signVehicleRequest(
        { method: 'GET', url },
        {
          keyid: vehicle.serialNumber.toLowerCase(),
          sign: (d) => createKeySigner(vehicle.privateKey).sign(d),
        },
      );
      const res = await fetch(url, { headers });
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    };
    const genuineTimestamp = await vehicleGet('/director/metadata/timestamp.json');
    const snapVersion = (
      JSON.parse(new TextDecoder().decode(genuineTimestamp)) as {
        signed: { meta: Record<string, { version: number }> };
      }
    ).signed.meta['snapshot.json']!.version;
    const genuineSnapshot = await vehicleGet(`/director/metadata/${snapVersion}.snapshot.json`);
    const targetsVersion = (
      JSON.parse(new TextDecoder().decode(genuineSnapshot)) as {
        signed: { meta: Record<string, { version: number }> };
      }
    ).signed.meta['targets.json']!.version;
    const genuineTargets = await vehicleGet(`/director/metadata/${targetsVersion}.targets.json`);
    const genuinePromise = await vehicleGet(`/director/log-promise?version=${targetsVersion}`);
    const rc = RELEASES[3];
    const rcRelease = await publish([rc]);
    say(
      'OEM',
      `published ${rc.name} (a brake release candidate, not for this vehicle) in snapshot v${rcRelease}, logged on chain`,
    );
    rogue = await startRogueDirector({
      upstreamUrl: server.url,
      keys: directorSigners,
      genuine: {
        timestamp: genuineTimestamp,
        snapshot: genuineSnapshot,
        targets: genuineTargets,
        logPromise: genuinePromise,
      },
      assign: {
        name: rc.name,
        image: images.get(rc.name)!,
        ecuSerial: ECUS.brake.serial,
        hardwareId: ECUS.brake.hardwareId,
        releaseCounter: rc.counter,
      },
    });
    say(
      'hacker',
      `stole the Director's online keys; signs Director targets v${rogue.targetsVersion} pushing ${rc.name} (genuine, logged in the image repository, never assigned) to ${ECUS.brake.serial}, served from a hijacked Director host with the log promise of v${targetsVersion} replayed`,
    );
    const rogueConfig = join(vehicleDir, 'agent-hijacked.json');
    await writeFile(rogueConfig, JSON.stringify(settings(rogue.url)));
    const attackBefore = await digests();
    const attacked = await agent(rogueConfig, ['run-once'], vehiclePassphrase);
    const refusedWith = lastJson<{ error?: { code: string } }>(attacked).error?.code;
    const attackAfter = await digests();
    say(
      'vehicle',
      refusedWith
        ? `refused: ${refusedWith} — Director targets v${rogue.targetsVersion} passes TUF (real Director keys) but the log never promised these bytes`
        : 'ACCEPTED THE ROGUE DIRECTOR METADATA (this must never happen)',
    );
    say(
      'vehicle',
      `active slots unchanged on all three ECUs: ${Object.entries(attackAfter)
        .map(([serial, d]) => `${serial} ${d?.slice(0, 8)}…`)
        .join(', ')}`,
    );

    const ecus: EcuState[] = (Object.keys(ECUS) as EcuName[]).map((n) => ({
      serial: ECUS[n].serial,
      kind: ECUS[n].kind,
      before: before[ECUS[n].serial],
      after: after[ECUS[n].serial],
      assigned: sha256(images.get(RELEASES.find((r) => r.ecu === n)!.name)!),
    }));
    return {
      vinCommitment,
      registration: {
        status: reg.status,
        changed: reg.changed,
        ecus: reg.registration.ecus.map((e) => e.ecu_serial),
      },
      assignment: {
        id: assigned.assignment.id,
        targetsVersion: assigned.targetsVersion,
        statusAfter,
      },
      run,
      ecus,
      again,
      audit,
      attack: {
        exitCode: attacked.code,
        refusedWith,
        rogueTargetsVersion: rogue.targetsVersion,
        before: attackBefore,
        after: attackAfter,
      },
    };
  } finally {
    await rogue?.close();
    for (const s of secondaries) await s.stop();
    reader?.destroy();
    await server?.close();
    await log?.close();
    await repo?.close();
    await chain?.stop();
  }
}
