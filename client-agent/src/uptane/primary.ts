import { createHash } from 'node:crypto';
import type { TargetFile } from '@tufjs/models';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveConfig } from '../config.js';
import { AgentError } from '../error.js';
import { HttpRangeSource } from '../install/range-fetch.js';
import { UndiciFetcher } from '../tuf/fetcher.js';
import { stageMetadata } from '../tuf/staged.js';
import { TufRepository } from '../tuf/updater.js';
import { createDispatcher, releaseDispatcher } from '../util/http.js';
import { acquireStateLock } from '../util/lock.js';
import { fetchBounded, answerLimits } from '../util/retrieval.js';
import { verifyFirmwareBundle } from '../verify/attestation.js';
import { readTrustedTime } from '../verify/chain.js';
import { referenceTime } from '../verify/time.js';
import {
  AtomicJournalStore,
  installAtomicSet,
  LocalEcu,
  recoverAtomicSet,
  type AtomicRun,
} from './atomic.js';
import { RemoteEcu, type EcuEndpoint, type EcuTarget } from './ecu.js';
import { EcuSlots } from './ecu-slots.js';
import { handOverMetadata } from './memory-fetcher.js';
import { createRequestSigner } from './request-signature.js';
import {
  directorBase,
  endpoints,
  type Cycle,
  type VehicleUpdateOptions,
  type VehicleUpdateResult,
} from './primary-types.js';
import {
  chainIdOf,
  collectReports,
  queueEcuReports,
  sendManifest,
  sendReports,
  type ReportContext,
} from './primary-reports.js';
import { RootChain } from './root-chain.js';
import {
  verifyAssignments,
  verifyDirectorTargets,
  type VerifiedAssignment,
} from './verify-vehicle.js';

export type {
  SecondaryEcuConfig,
  VehicleUpdateOptions,
  VehicleUpdateResult,
} from './primary-types.js';

/**
 * One Uptane update cycle of the primary (UPTANE.md): recover an interrupted set; refresh the
 * Director and the image repository with two tuf-js updaters and two pinned roots; check the
 * Director metadata (this vehicle, logged: the log's signed promise); resolve every assignment
 * in the image repository (same length, hashes and release counter) and on chain; hand the
 * metadata to each secondary that must install (each verifies it itself); install the set
 * atomically; send the signed vehicle version manifest. Any refusal before the install throws an
 * AgentError with no ECU's slot changed.
 */
export async function runVehicleUpdate(opts: VehicleUpdateOptions): Promise<VehicleUpdateResult> {
  await mkdir(opts.stateDir, { recursive: true });
  const unlock = await acquireStateLock(opts.stateDir);
  const cfg = resolveConfig(opts.config);
  const dispatcher = createDispatcher(cfg);
  const clock = opts.clock ?? (() => new Date());
  const local = new LocalEcu(
    new EcuSlots({
      serial: opts.primary.ecuSerial,
      slots: opts.primary.slots,
      signer: opts.vehicle.signer,
      stateDir: opts.stateDir,
      // Its own slot reads back inline unless sha512Worker is set: a primary holds the Director's
      // metadata and its links besides, and the worker's ~9 MiB took it over its 96 MiB budget
      // (bench:agent's vehicle: 101.7 MiB with the worker, 92.5 MiB without, no slower).
      config: { ...cfg, sha512Worker: opts.config?.sha512Worker ?? false },
      healthCheck: opts.primary.healthCheck,
    }),
    opts.primary.hardwareId,
  );
  const remotes = opts.secondaries.map(
    (s) =>
      new RemoteEcu({
        serial: s.ecuSerial,
        hardwareId: s.hardwareId,
        key: s.key,
        transport: s.transport,
      }),
  );
  const c: Cycle = {
    opts,
    cfg,
    signRequest: createRequestSigner(opts.vehicle, clock),
    dispatcher,
    now: clock,
    local,
    remotes,
    journal: new AtomicJournalStore(opts.stateDir),
  };
  try {
    return await cycle(c);
  } finally {
    for (const r of remotes) r.close();
    try {
      await releaseDispatcher(dispatcher);
    } finally {
      await unlock();
    }
  }
}

async function cycle(c: Cycle): Promise<VehicleUpdateResult> {
  const { opts, cfg } = c;
  const queued: { id: string; ecuSerial: string }[] = [];
  const onSettled = async (run: AtomicRun): Promise<void> => {
    queued.push(...(await queueEcuReports(c, run)));
  };
  const recovered = await recoverAtomicSet(endpoints(c), {
    journal: c.journal,
    now: c.now,
    onSettled,
  });

  // 1. Both repositories through tuf-js, and the chain's confirmed time.
  // Both refresh into staging copies, trusted only once the log and the chain accept them.
  const imageStage = await stageMetadata(opts.image.metadataDir);
  const directorStage = await stageMetadata(opts.director.metadataDir);
  const image = new TufRepository({
    metadataDir: imageStage.dir,
    repositoryUrl: opts.serverUrl,
    trustedRootJson: opts.image.trustedRootJson,
    fetcher: new UndiciFetcher(cfg, c.dispatcher),
    config: cfg,
  });
  const director = new TufRepository({
    metadataDir: directorStage.dir,
    repositoryUrl: `${directorBase(opts)}/director`,
    trustedRootJson: opts.director.trustedRootJson,
    fetcher: new UndiciFetcher(cfg, c.dispatcher, c.signRequest),
    config: cfg,
  });
  const chainTime = readTrustedTime(opts.chain);
  chainTime.catch(() => undefined);
  await director.refresh();
  await image.refresh();
  const checkpoint = await chainTime;
  const at = referenceTime(c.now(), checkpoint.timestamp);
  const directorTrusted = await director.trustedMetadata();
  const imageTrusted = await image.trustedMetadata();

  // 2. The Director's word: this vehicle's, logged.
  const logPromise = await fetchLogPromise(c, directorTrusted.targets.signed.version);
  const verified = verifyDirectorTargets({
    trusted: directorTrusted,
    at,
    vehicleCommitment: opts.vehicle.vinCommitment,
    logPromise,
    log: opts.transparencyLog,
  });
  await directorStage.promote();
  const directorInfo = {
    targetsVersion: verified.targetsVersion,
    targetsHash: verified.targetsHash,
    correlationId: verified.custom.correlationId,
  };
  const bySerial = new Map(endpoints(c).map((e) => [e.serial, e]));
  for (const a of verified.assignments) {
    const ecu = bySerial.get(a.ecuSerial);
    if (!ecu)
      throw new AgentError(
        'ECU_UNKNOWN',
        `the Director assigns ${a.name} to unknown ECU ${a.ecuSerial}`,
      );
    if (ecu.hardwareId !== a.hardwareId) {
      throw new AgentError(
        'HARDWARE_ID_MISMATCH',
        `ECU ${a.ecuSerial} is ${ecu.hardwareId}; the Director assigns it ${a.name} for ${a.hardwareId}`,
      );
    }
  }

  // 3. The image repository's word on every image, and the chain's, and the OEM's attestation.
  image.checkDelegationsExpiryAt(at);
  const checked = await verifyAssignments({
    image,
    imageTrusted,
    chain: opts.chain,
    assignments: verified.assignments,
  });
  const attested = new Map<string, VerifiedAssignment>();
  for (const a of checked) attested.set(`${a.sha256}/${a.hardwareId}`, a);
  // tuf-js resolves one target at a time; the bundles download and verify side by side.
  const bundles: { a: VerifiedAssignment; target: TargetFile }[] = [];
  for (const a of attested.values())
    bundles.push({ a, target: await attestationTarget(c, image, a) });
  await Promise.all(bundles.map(({ a, target }) => verifyAttestation(c, image, a, target)));
  await imageStage.promote();

  // 4. What each ECU runs now (signed reports, fresh nonce), and who must install.
  const reports = await collectReports(c, checkpoint);
  const due = checked.filter(
    (a) => reports.get(a.ecuSerial)?.signed.installed_image.fileinfo.hashes.sha256 !== a.sha256,
  );
  if (due.length === 0) {
    const manifest = await sendManifest(c, checkpoint, reports, undefined, null);
    return {
      status: 'UP_TO_DATE',
      director: directorInfo,
      ecus: [],
      ...(recovered ? { recovered } : {}),
      ...(manifest ? { manifest } : {}),
    };
  }

  // The primary's own ECU refuses a downgrade here; each secondary does with the metadata (5).
  for (const a of due) {
    if (a.ecuSerial === c.local.serial) await c.local.ecu.assertNotDowngrade(a);
  }

  // 5. Each secondary that installs verifies the metadata itself before any byte moves.
  const handover = {
    director: await handOverMetadata(opts.director.metadataDir),
    image: await handOverMetadata(opts.image.metadataDir),
  };
  const roots = new RootChain(c, {
    director: directorTrusted.root.signed.version,
    image: imageTrusted.root.signed.version,
  });
  await Promise.all(
    due.map(async (a) => {
      const remote = c.remotes.find((r) => r.serial === a.ecuSerial);
      if (!remote) return;
      const kind = opts.secondaries.find((s) => s.ecuSerial === a.ecuSerial)?.verification;
      // Every root after the ones it trusts, so that it follows a rotation (UPTANE.md).
      const trusts = (await remote.ask({ op: 'info' }))['rootVersions'] as
        { director?: unknown; image?: unknown } | undefined;
      await remote.ask({
        op: 'metadata',
        director: { ...(await roots.after('director', trusts?.director)), ...handover.director },
        ...(kind === 'full'
          ? {
              image: { ...(await roots.after('image', trusts?.image)), ...handover.image },
              logPromise,
            }
          : {}),
        chainTime: checkpoint,
      });
    }),
  );

  // 6. The atomic install: prepare all, switch all, commit all or roll all back.
  const started = new Date(Math.max(c.now().getTime(), checkpoint.timestamp * 1000));
  const reportContext: ReportContext = {
    director: directorInfo,
    metadata: {
      targetsVersion: imageTrusted.targets.signed.version,
      targetsHash: createHash('sha256').update(imageTrusted.targetsBytes).digest('hex'),
    },
    // What a single-ECU report names too: the logged snapshot the image was checked against.
    release: Object.fromEntries(
      due.map((a) => [
        a.ecuSerial,
        { targetsVersion: a.release.metadataVersion, targetsHash: a.release.metadataHash },
      ]),
    ),
    checkpoint: { chainId: chainIdOf(opts), ...checkpoint },
    startedAt: started.toISOString(),
    from: Object.fromEntries(
      due.map((a) => {
        const img = reports.get(a.ecuSerial)?.signed.installed_image;
        return [
          a.ecuSerial,
          img ? { name: img.filepath, digest: img.fileinfo.hashes.sha256 } : null,
        ];
      }),
    ),
  };
  const run = await installAtomicSet(
    due.map((a) => ({ endpoint: bySerial.get(a.ecuSerial) as EcuEndpoint, target: ecuTarget(a) })),
    {
      journal: c.journal,
      correlationId: verified.custom.correlationId,
      reportContext,
      onSettled,
      now: c.now,
      source: (t) => {
        const a = due.find((x) => x.sha256 === t.sha256) as VerifiedAssignment;
        return new HttpRangeSource({
          url: image.targetUrl(a.firmware.file),
          dispatcher: c.dispatcher,
          config: cfg,
        });
      },
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    },
  );
  const after = await collectReports(c, checkpoint);
  const manifest = await sendManifest(c, checkpoint, after, run, directorInfo.correlationId);
  const sent = await sendReports(c, queued);
  return {
    ...(sent ? { reports: sent } : {}),
    status: run.outcome === 'COMMITTED' ? 'UPDATED' : 'ROLLED_BACK',
    ...(run.code ? { code: run.code } : {}),
    director: directorInfo,
    ecus: run.ecus,
    ...(recovered ? { recovered } : {}),
    ...(manifest ? { manifest } : {}),
  };
}

function ecuTarget(a: VerifiedAssignment): EcuTarget {
  return {
    name: a.name,
    version: a.firmware.version,
    length: a.firmware.length,
    sha256: a.firmware.sha256,
    sha512: a.firmware.sha512,
    releaseCounter: a.firmware.releaseCounter,
  };
}

function attestationTarget(
  _c: Cycle,
  image: TufRepository,
  a: VerifiedAssignment,
): Promise<TargetFile> {
  return image.getTarget(a.firmware.attestationPath).catch((err: unknown) => {
    throw new AgentError(
      'ATTESTATION_MISSING',
      `no attestation target ${a.firmware.attestationPath}`,
      { cause: err },
    );
  });
}

async function verifyAttestation(
  c: Cycle,
  image: TufRepository,
  a: VerifiedAssignment,
  target: TargetFile,
): Promise<void> {
  if (target.length > c.cfg.attestationMaxLength) {
    throw new AgentError('ATTESTATION_INVALID', 'attestation bundle is too large');
  }
  const bytes = await image.downloadSmallTarget(target, join(c.opts.stateDir, 'tmp'));
  await verifyFirmwareBundle(bytes, c.opts.firmwareKey, {
    name: a.name,
    sha256: a.sha256,
    hardwareId: a.hardwareId,
    releaseCounter: a.releaseCounter,
  });
}

/** `GET /director/log-promise?version=N`, vehicle-signed; undefined when the server has none. */
async function fetchLogPromise(c: Cycle, version: number): Promise<unknown> {
  const url = `${directorBase(c.opts)}/director/log-promise?version=${version}`;
  const res = await fetchBounded(url, {
    dispatcher: c.dispatcher,
    headers: { 'user-agent': c.cfg.userAgent, ...(await c.signRequest('GET', url)) },
    maxBytes: c.cfg.answerMaxLength,
    limits: answerLimits(c.cfg),
  });
  if (res.statusCode !== 200) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
