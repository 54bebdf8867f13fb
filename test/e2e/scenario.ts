/**
 * The whole tufchain path on real parts, shared by `npm run demo` and the e2e test:
 * keys -> contract on anvil -> Hono server on SQLite -> vehicle agent -> auditor,
 * then the attack the chain exists for.
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FileSlotStore,
  ReportOutbox,
  runUpdate,
  storedInclusionProof,
  type UpdateResult,
} from '@tufchain/client-agent';
import { deployTufchainLog, startAnvil, type DevChain } from '@tufchain/contracts/dev';
import {
  createKeySigner,
  createPkcs12Bundle,
  createSecp256k1FileSigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  generateSecp256k1KeyPair,
  readEncryptedKeyFile,
  readPkcs12Bundle,
  signFirmwareAttestation,
  writeEncryptedKeyFile,
  type KeyType,
  type Secp256k1Signer,
  type Signer,
} from '@tufchain/keys';
import {
  createApiToken,
  initRepository,
  openRepository,
  openServerLog,
  startServer,
  type InclusionPromise,
  type OpenedRepository,
  type RunningServer,
} from '@tufchain/server';
import {
  auditRepository,
  ChainReader,
  checkChainAccount,
  createChainSigner,
  createHttpAuditSource,
  createHttpLogAuditSource,
  createNoteVerifier,
  formatVerifierKey,
  ReleaseLogWriter,
  verifyProofBundle,
  type AuditResult,
  type LogService,
  type ProofBundle,
} from '@tufchain/transparency';
import { JsonRpcProvider, parseEther, Wallet } from 'ethers';
import { pino } from 'pino';
import { startRogueMirror } from './hacker.js';

export const HARDWARE_ID = 'acme-gateway-ecu-rev3';
export const CONFIRMATIONS = 2;
export const LOG_ORIGIN = 'acme.example/tufchain-log';

export type Narrate = (actor: string, message: string) => void;

export interface ScenarioOptions {
  dataDir: string;
  narrate?: Narrate;
  /** Seconds between blocks; confirmations need blocks to keep coming. */
  blockTimeSeconds?: number;
}

export interface PublishedRelease {
  version: string;
  /** The snapshot version logged on chain that published it. */
  metadataVersion: number;
  metadataHash: string;
  txHash: string;
  blockNumber: number;
  sha256: string;
}

export interface AttackOutcome {
  refusedWith: string | undefined;
  activeSlotBefore: string;
  activeSlotAfter: string;
  activeDigestBefore: string | undefined;
  activeDigestAfter: string | undefined;
  rogueTargetsVersion: number;
}

export interface InstallProof {
  /** The server's answer at intake. */
  promise: InclusionPromise;
  /** What the vehicle keeps in its state dir, verified offline and on chain. */
  bundle: ProofBundle;
  /** The log key the vehicle pins (C2SP verifier key). */
  logKey: string;
}

export interface ScenarioResult {
  contractAddress: string;
  anvilPid: number;
  vehicleCaPem: string;
  releases: PublishedRelease[];
  updates: UpdateResult[];
  audit: AuditResult;
  attack: AttackOutcome;
  /** The proof bundle of the v2 install attestation, kept by the vehicle. */
  installProof: InstallProof;
}

const PASSPHRASE_BYTES = 24;

/** An OEM key as the OEM keeps it: an encrypted PKCS#8 file, opened only to sign. */
async function makeKey(dir: string, name: string, type: KeyType): Promise<Signer> {
  const passphrase = randomBytes(PASSPHRASE_BYTES).toString('base64url');
  const path = join(dir, `${name}.key.pem`);
  await writeEncryptedKeyFile(path, generateKeyPair(type).privateKey, passphrase);
  return createKeySigner(await readEncryptedKeyFile(path, passphrase));
}

/** A chain account's key as the OEM keeps it: an encrypted secp256k1 key file. */
async function makeChainKey(dir: string, name: string): Promise<Secp256k1Signer> {
  const passphrase = randomBytes(PASSPHRASE_BYTES).toString('base64url');
  const path = join(dir, `${name}.chain.key.pem`);
  await writeEncryptedKeyFile(path, generateSecp256k1KeyPair().privateKey, passphrase);
  return createSecp256k1FileSigner(path, passphrase);
}

function firmwareImage(version: string, size = 256 * 1024): Uint8Array {
  // Incompressible-looking bytes shared by every version (the code that did not change), with a
  // version stamp every 16 KiB, so that each version has a distinct digest and a small delta
  // from the previous one.
  const out = new Uint8Array(size);
  let block = createHash('sha256').update('acme gateway firmware').digest();
  for (let off = 0; off < size; off += block.length) {
    out.set(block.subarray(0, Math.min(block.length, size - off)), off);
    block = createHash('sha256').update(block).digest();
  }
  const stamp = createHash('sha256').update(`acme gateway firmware ${version}`).digest();
  for (let off = 0; off + stamp.length <= size; off += 16 * 1024) out.set(stamp, off);
  return out;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const say: Narrate = opts.narrate ?? (() => undefined);
  if ((await readdir(opts.dataDir).catch(() => [])).length > 0) {
    throw new Error(`data dir ${opts.dataDir} is not empty: the scenario starts from nothing`);
  }
  const keyDir = join(opts.dataDir, 'oem-keys');
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  await mkdir(join(opts.dataDir, 'chain'), { recursive: true });

  let chain: DevChain | undefined;
  let repo: OpenedRepository | undefined;
  let server: RunningServer | undefined;
  let log: LogService | undefined;
  try {
    // 1. keys
    say(
      'OEM',
      'generating keys: 3 offline root keys (2-of-3), online targets/snapshot/timestamp, firmware build key',
    );
    const rootSigners = [
      await makeKey(keyDir, 'root-1', 'ed25519'),
      await makeKey(keyDir, 'root-2', 'ecdsa-p256'),
      await makeKey(keyDir, 'root-3', 'ed25519'),
    ];
    const online = {
      targets: await makeKey(keyDir, 'targets', 'ed25519'),
      snapshot: await makeKey(keyDir, 'snapshot', 'ed25519'),
      timestamp: await makeKey(keyDir, 'timestamp', 'ecdsa-p256'),
    };
    const buildKey = await makeKey(keyDir, 'firmware-build', 'ecdsa-p256');
    const logKeyPassphrase = randomBytes(PASSPHRASE_BYTES).toString('base64url');
    const logKeyPath = join(keyDir, 'log-checkpoint.key.pem');
    await writeEncryptedKeyFile(
      logKeyPath,
      generateKeyPair('ed25519').privateKey,
      logKeyPassphrase,
    );
    const logNoteKey = await readEncryptedKeyFile(logKeyPath, logKeyPassphrase);
    const logKey = formatVerifierKey(LOG_ORIGIN, createPublicKey(logNoteKey));
    say('OEM', `keys stored as scrypt-encrypted PKCS#8 (mode 0600) under ${keyDir}`);
    say('OEM', `firmware attestation key ${buildKey.keyId.slice(0, 16)}… (ECDSA P-256)`);
    say('OEM', `transparency log checkpoint key ${logKey} (Ed25519, C2SP signed notes)`);

    const vehicleCa = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    const vin = 'WAC9D1234RZ000042';
    const identity = await createVehicleIdentity(vehicleCa, { vin, ecuSerial: 'GW-0042' });
    const p12Password = randomBytes(PASSPHRASE_BYTES).toString('base64url');
    const p12 = createPkcs12Bundle(identity, vehicleCa.certificatePem, p12Password);
    // The factory line flashes the PKCS#12 bundle; the vehicle opens it at first boot.
    const provisioned = readPkcs12Bundle(p12, p12Password);
    say(
      'factory',
      `vehicle CA issued an ECDSA P-256 certificate for ECU GW-0042; VIN commitment ${identity.vinCommitment.slice(0, 16)}… (the VIN itself never leaves the car)`,
    );
    say('factory', `PKCS#12 provisioning bundle: ${p12.length} bytes`);

    // 2. contracts
    chain = await startAnvil({
      blockTimeSeconds: opts.blockTimeSeconds ?? 1,
      stateFile: join(opts.dataDir, 'chain', 'anvil-state.json'),
    });
    say('chain', `anvil pid ${chain.pid} on ${chain.rpcUrl} (chain id ${chain.chainId})`);
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true });
    const [adminAccount] = chain.accounts;
    if (!adminAccount) throw new Error('anvil exposes no dev accounts');
    const admin = new Wallet(adminAccount.privateKey, provider);
    // The publisher and the log operator are chain accounts whose keys, like every OEM key, exist
    // only as encrypted key files; they sign through the Signer seam, never as a raw key.
    const publisherKey = await makeChainKey(keyDir, 'publisher');
    const operatorKey = await makeChainKey(keyDir, 'log-operator');
    for (const account of [publisherKey, operatorKey]) {
      await (await admin.sendTransaction({ to: account.address, value: parseEther('10') })).wait();
    }
    const publisher = createChainSigner(publisherKey, provider);
    const deployment = await deployTufchainLog(admin, {
      admin: admin.address,
      publishers: [publisher.address],
      logOperators: [operatorKey.address],
    });
    await checkChainAccount({
      signer: publisher,
      contractAddress: deployment.address,
      role: 'publisher',
      chainId: chain.chainId,
    });
    say(
      'chain',
      `TufchainLog deployed at ${deployment.address} (tx ${deployment.txHash}, block ${deployment.blockNumber}); publisher ${publisher.address}, log operator ${operatorKey.address} (secp256k1 keys in encrypted key files, funded and checked on chain)`,
    );

    const releaseLog = new ReleaseLogWriter({
      signer: publisher,
      contractAddress: deployment.address,
      confirmations: CONFIRMATIONS,
    });

    // 3. server
    repo = await openRepository({ dataDir: join(opts.dataDir, 'server') });
    const { rootBytes } = await initRepository({
      store: repo.store,
      rootSigners,
      threshold: 2,
      onlineSigners: online,
      releaseLog,
    });
    say(
      'OEM',
      `root v1 signed offline by 2 of 3 root keys (${rootBytes.length} bytes); snapshot v1 logged on chain`,
    );
    // Its own provider without a response cache: the anchoring service manages its nonces.
    const operatorProvider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    const operator = createChainSigner(operatorKey, operatorProvider);
    await checkChainAccount({
      signer: operator,
      contractAddress: deployment.address,
      role: 'log-operator',
      chainId: chain.chainId,
    });
    log = await openServerLog({
      dataDir: join(opts.dataDir, 'server'),
      origin: LOG_ORIGIN,
      noteKey: logNoteKey,
      anchoring: {
        signer: operator,
        contractAddress: deployment.address,
        chainId: chain.chainId,
        fromBlock: deployment.blockNumber,
        config: { confirmations: CONFIRMATIONS, intervalMs: 60_000, pollIntervalMs: 100 },
      },
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
        vehicleCaPem: vehicleCa.certificatePem,
        chainProbe: () => provider.getBlockNumber(),
        transparencyLog: log,
      },
    });
    const { token } = await createApiToken(repo.store, { name: 'release-ci', scopes: ['publish'] });
    say('server', `Hono update server on ${server.url} (SQLite WAL + content-addressed blobs)`);
    say(
      'server',
      `transparency log ${LOG_ORIGIN}: releases anchor at once, install reports in batches (every 1000 entries or 60 s)`,
    );

    // 4. the vehicle
    const vehicleDir = join(opts.dataDir, 'vehicle');
    const factoryImage = firmwareImage('0.9.0');
    const slots = await FileSlotStore.provision(join(vehicleDir, 'slots'), {
      image: factoryImage,
      name: 'gateway-0.9.0.img',
      version: '0.9.0',
      releaseCounter: 0,
    });
    const reader = new ChainReader({
      rpcUrls: [chain.rpcUrl],
      quorum: 1,
      contractAddress: deployment.address,
      confirmations: CONFIRMATIONS,
      chainId: chain.chainId,
      fromBlock: deployment.blockNumber,
    });
    const vehicleSigner = createKeySigner(provisioned.privateKey);
    const agentOptions = (serverUrl: string, odometerKm: number) => ({
      serverUrl,
      metadataDir: join(vehicleDir, 'tuf'),
      trustedRootJson: rootBytes,
      hardwareId: HARDWARE_ID,
      ecuSerial: identity.ecuSerial,
      chain: reader,
      chainId: chain!.chainId,
      firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
      slots,
      vehicle: {
        signer: vehicleSigner,
        certificatePem: provisioned.certificatePem,
        vinCommitment: identity.vinCommitment,
      },
      odometerKm,
      transparencyLog: { logKeys: [logKey], origin: LOG_ORIGIN },
    });
    say(
      'vehicle',
      `slot A holds factory firmware 0.9.0; trusts root v1, contract ${deployment.address}, ${CONFIRMATIONS} confirmations`,
    );

    const releases: PublishedRelease[] = [];
    const updates: UpdateResult[] = [];
    let odometer = 12_000;
    for (const [version, releaseCounter] of [
      ['1.0.0', 1],
      ['2.0.0', 2],
    ] as const) {
      const name = `gateway-${version}.img`;
      const image = firmwareImage(version);
      const sha256 = sha256Hex(image);
      const put = await fetch(`${server.url}/api/v1/firmware/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        body: image,
      });
      if (put.status !== 201)
        throw new Error(`upload of ${name} failed: HTTP ${put.status} ${await put.text()}`);
      const attestation = await signFirmwareAttestation(
        {
          name,
          sha256,
          hardwareIds: [HARDWARE_ID],
          version,
          releaseCounter,
          build: { builder: 'acme-ci', commit: 'demo' },
        },
        buildKey,
      );
      say(
        'OEM',
        `uploaded ${name} (${image.length} bytes, sha256 ${sha256.slice(0, 16)}…) with its Sigstore bundle (DSSE, in-toto v1)`,
      );
      const started = Date.now();
      const res = await fetch(`${server.url}/api/v1/releases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          targets: [{ name, hardwareIds: [HARDWARE_ID], version, releaseCounter, attestation }],
        }),
      });
      const body = (await res.json()) as {
        release?: {
          metadataVersion: number;
          metadataHash: string;
          chain: { txHash: string; blockNumber: number };
        };
        error?: { code: string; message: string };
      };
      if (!res.ok || !body.release)
        throw new Error(`publish of ${version} failed: ${JSON.stringify(body.error)}`);
      const rel = body.release;
      releases.push({
        version,
        metadataVersion: rel.metadataVersion,
        metadataHash: rel.metadataHash,
        txHash: rel.chain.txHash,
        blockNumber: rel.chain.blockNumber,
        sha256,
      });
      say(
        'server',
        `signed into its hashed bin; snapshot v${rel.metadataVersion} hash ${rel.metadataHash.slice(0, 18)}… logged in tx ${rel.chain.txHash} (block ${rel.chain.blockNumber}), ${CONFIRMATIONS} confirmations in ${Date.now() - started} ms; only now visible to vehicles`,
      );

      odometer += 850;
      const result = await runUpdate(agentOptions(server.url, odometer));
      updates.push(result);
      say(
        'vehicle',
        `TUF refresh ok (tuf-js walked targets -> bins -> its bin); snapshot v${result.release?.metadataVersion} is logged on chain in block ${result.release?.blockNumber} and confirmed`,
      );
      say(
        'vehicle',
        `Sigstore bundle verified with the pinned build key; subject digest = TUF target sha256`,
      );
      say(
        'vehicle',
        `${result.status}: ${result.install?.path === 'delta' ? `rebuilt ${result.target?.name} from a delta against the active slot` : `streamed ${result.target?.name}`} into the inactive slot (${result.install?.networkBytes ?? 0} bytes over the network) while hashing, read back against the full image's hashes, switched; active slot ${result.activeSlot.toUpperCase()}`,
      );
      say(
        'vehicle',
        `install attestation #${result.report?.id ?? '?'} signed with the vehicle certificate, ${result.report?.sent ? 'accepted by the server' : 'queued for later'}`,
      );
    }

    // 5. the log: the v2 install report's promise becomes a proof
    const lastReport = updates[1]?.report;
    if (!lastReport) throw new Error('the v2 update sent no install report');
    const outbox = new ReportOutbox(join(vehicleDir, 'tuf', '.agent'));
    const promise = ((await outbox.receipt(lastReport.id)) as { promise?: InclusionPromise })
      .promise;
    if (!promise) throw new Error('the server answered the v2 install report without a promise');
    say(
      'server',
      `install report #${lastReport.id} appended to the log at index ${promise.logIndex} (leaf ${promise.leafHash.slice(0, 18)}…); promise: checkpoint of size ${promise.treeSize} signed by the log key`,
    );
    // The batch would go out within the minute; the demo asks the log operator not to wait.
    const anchor = await log.anchors!.anchorNow();
    say(
      'log operator',
      `checkpoint size ${anchor.size} root ${anchor.rootHash.slice(0, 18)}… anchored by anchor(size, root, consistencyProof) in tx ${anchor.txHash} (block ${anchor.blockNumber}); the contract checked the consistency proof`,
    );
    const recheck = await runUpdate(agentOptions(server.url, odometer + 5));
    const kept = await storedInclusionProof(outbox, lastReport.id);
    if (!kept) throw new Error('the vehicle kept no proof bundle for its v2 install report');
    say(
      'vehicle',
      `next check-in: ${recheck.status}; fetched the proof bundle of report #${lastReport.id}, verified offline with the pinned log key and against the anchor in block ${kept.anchor.blockNumber}; kept in its state dir`,
    );
    // Independently of the agent: the bundle verifies against the chain.
    await verifyProofBundle(kept, {
      logVerifiers: [createNoteVerifier(LOG_ORIGIN, createPublicKey(logNoteKey))],
      origin: LOG_ORIGIN,
      chain: reader,
    });

    // 6. auditor
    const audit = await auditRepository({
      chain: reader,
      source: createHttpAuditSource(server.url),
      trustedRoot: JSON.parse(new TextDecoder().decode(rootBytes)) as unknown,
      vehicleCaPem: vehicleCa.certificatePem,
      firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
      log: {
        source: createHttpLogAuditSource(server.url),
        verifiers: [createNoteVerifier(LOG_ORIGIN, createPublicKey(logNoteKey))],
        origin: LOG_ORIGIN,
      },
    });
    say('auditor', `replayed ${JSON.stringify(audit.stats)}; ${audit.findings.length} finding(s)`);
    for (const f of audit.findings) say('auditor', `  ${f.severity} ${f.code}: ${f.message}`);

    // 7. the attack: real OEM online keys, no chain entry
    say(
      'hacker',
      'stole the online targets, snapshot, timestamp and build keys; serves firmware 6.6.6 from a hijacked mirror',
    );
    const rogue = await startRogueMirror({
      upstreamUrl: server.url,
      keys: { ...online, firmware: buildKey },
      image: firmwareImage('6.6.6-backdoor'),
      name: 'gateway-6.6.6.img',
      hardwareId: HARDWARE_ID,
      version: '6.6.6',
      releaseCounter: 66,
    });
    const before = await slots.readState();
    let refusedWith: string | undefined;
    try {
      await runUpdate(agentOptions(rogue.url, odometer + 10));
      say('vehicle', 'INSTALLED THE ROGUE RELEASE (this must never happen)');
    } catch (error) {
      refusedWith = (error as { code?: string }).code;
      say(
        'vehicle',
        `refused: ${refusedWith} — targets v${rogue.targetsVersion} passes TUF (real keys) but the snapshot naming it is not on chain`,
      );
    } finally {
      await rogue.close();
    }
    const after = await slots.readState();
    say(
      'vehicle',
      `active slot still ${after.active.toUpperCase()} running ${after.slots[after.active]?.version ?? '?'}; nothing written`,
    );

    return {
      contractAddress: deployment.address,
      anvilPid: chain.pid,
      vehicleCaPem: vehicleCa.certificatePem,
      releases,
      updates,
      audit,
      attack: {
        refusedWith,
        activeSlotBefore: before.active,
        activeSlotAfter: after.active,
        activeDigestBefore: before.slots[before.active]?.sha256,
        activeDigestAfter: after.slots[after.active]?.sha256,
        rogueTargetsVersion: rogue.targetsVersion,
      },
      installProof: { promise, bundle: kept, logKey },
    };
  } finally {
    await server?.close();
    await log?.close();
    await repo?.close();
    await chain?.stop();
  }
}
