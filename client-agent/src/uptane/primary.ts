import { createHash, randomBytes } from 'node:crypto';
import type { TargetFile } from '@tufjs/models';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  signEnvelope,
  type EcuVersionReport,
  type SignedEnvelope,
  type VehicleVersionManifest,
} from '@tufchain/transparency/wire';
import { resolveConfig, type Config } from '../config.js';
import { AgentError } from '../error.js';
import { HttpRangeSource } from '../install/range-fetch.js';
import { signInstallReport, type VehicleCredentials } from '../report/attestation.js';
import { ReportOutbox } from '../report/outbox.js';
import type { SlotImage, SlotName, SlotStore } from '../slots/slot-store.js';
import { UndiciFetcher, type RequestSigner } from '../tuf/fetcher.js';
import { stageMetadata } from '../tuf/staged.js';
import { TufRepository } from '../tuf/updater.js';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';
import { createDispatcher, releaseDispatcher } from '../util/http.js';
import { acquireStateLock } from '../util/lock.js';
import { fetchBounded, answerLimits } from '../util/retrieval.js';
import { verifyFirmwareBundle, type FirmwareKey } from '../verify/attestation.js';
import { readTrustedTime, type ReleaseLog, type TrustedCheckpoint } from '../verify/chain.js';
import { referenceTime } from '../verify/time.js';
import {
  AtomicJournalStore,
  installAtomicSet,
  LocalEcu,
  recoverAtomicSet,
  type AtomicRun,
  type EcuOutcome,
} from './atomic.js';
import {
  checkVersionReport,
  RemoteEcu,
  type EcuEndpoint,
  type EcuTarget,
  type PinnedEcuKey,
} from './ecu.js';
import { EcuSlots } from './ecu-slots.js';
import { handOverMetadata } from './memory-fetcher.js';
import { ManifestOutbox, type ManifestDelivery } from './manifest-outbox.js';
import { createRequestSigner } from './request-signature.js';
import type { SecondaryTransport } from './transport.js';
import {
  verifyAssignments,
  verifyDirectorTargets,
  type LogTrust,
  type VerifiedAssignment,
} from './verify-vehicle.js';

export interface SecondaryEcuConfig {
  ecuSerial: string;
  hardwareId: string;
  verification: 'full' | 'partial';
  /** The secondary's registered key (UPTANE.md clientKey) and its TUF key id. */
  key: PinnedEcuKey;
  transport: SecondaryTransport;
}

export interface VehicleUpdateOptions {
  /** The update server: image repository at /metadata and /targets, Director at /director. */
  serverUrl: string;
  /** The server of the Director (/director/…, /api/v1/director/…), if not serverUrl. */
  directorUrl?: string;
  image: { metadataDir: string; trustedRootJson: Uint8Array };
  director: { metadataDir: string; trustedRootJson: Uint8Array };
  chain: ReleaseLog;
  firmwareKey: FirmwareKey;
  /** The vehicle key and certificate: the primary ECU's key, Director request signatures. */
  vehicle: VehicleCredentials;
  primary: {
    ecuSerial: string;
    hardwareId: string;
    slots: SlotStore;
    healthCheck?: (slot: SlotName, image: SlotImage) => Promise<boolean>;
  };
  secondaries: readonly SecondaryEcuConfig[];
  /** The transparency log's pinned key(s): Director metadata needs its signed promise. */
  transparencyLog: LogTrust;
  stateDir: string;
  /** Send the signed vehicle version manifest to the Director (default true). */
  sendManifest?: boolean;
  /** Send the queued install reports at the end of the cycle (default true). */
  sendReports?: boolean;
  /** Chain ID recorded in install reports (default: the reader's `chainId`). */
  chainId?: number;
  odometerKm?: number;
  clock?: () => Date;
  onProgress?: (received: number, total: number) => void;
  config?: Partial<Config>;
}

export interface VehicleUpdateResult {
  status: 'UPDATED' | 'UP_TO_DATE' | 'ROLLED_BACK';
  /** Why the set rolled back (the culprit's code). */
  code?: string;
  director: { targetsVersion: number; targetsHash: string; correlationId: string | null };
  ecus: EcuOutcome[];
  /** What an earlier, interrupted set was brought to first. */
  recovered?: AtomicRun;
  /** The signed vehicle version manifest: sent, or kept for the next cycle (MANIFEST_REJECTED). */
  manifest?: ManifestDelivery;
  /** One signed install report per ECU of the set (and of a recovered set), queued durably. */
  reports?: { id: string; ecuSerial: string; sent: boolean }[];
}

interface Cycle {
  opts: VehicleUpdateOptions;
  cfg: Config;
  signRequest: RequestSigner;
  dispatcher: ReturnType<typeof createDispatcher>;
  now: () => Date;
  local: LocalEcu;
  remotes: RemoteEcu[];
  journal: AtomicJournalStore;
}

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

function directorBase(opts: VehicleUpdateOptions): string {
  return (opts.directorUrl ?? opts.serverUrl).replace(/\/+$/, '');
}

function endpoints(c: Cycle): EcuEndpoint[] {
  return [c.local, ...c.remotes];
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

/**
 * The roots of both repositories between a secondary's trusted version and the primary's (the
 * newest is in the handed-over metadata already), fetched once per cycle from the repositories'
 * public `N.root.json`. The secondary verifies the chain itself (tuf-js, or @tufjs/models for a
 * partial one); the primary only carries it.
 */
class RootChain {
  readonly #c: Cycle;
  readonly #current: { director: number; image: number };
  readonly #fetched = new Map<string, Promise<string>>();

  constructor(c: Cycle, current: { director: number; image: number }) {
    this.#c = c;
    this.#current = current;
  }

  async after(repo: 'director' | 'image', trusted: unknown): Promise<Record<string, string>> {
    const from = typeof trusted === 'number' && Number.isSafeInteger(trusted) ? trusted : 1;
    const out: Record<string, string> = {};
    for (let v = Math.max(from, 1) + 1; v < this.#current[repo]; v++) {
      out[`${v}.root.json`] = await this.#root(repo, v);
    }
    return out;
  }

  #root(repo: 'director' | 'image', version: number): Promise<string> {
    const key = `${repo}/${version}`;
    let p = this.#fetched.get(key);
    if (!p) {
      const base =
        repo === 'director'
          ? `${directorBase(this.#c.opts)}/director`
          : this.#c.opts.serverUrl.replace(/\/+$/, '');
      const url = `${base}/metadata/${version}.root.json`;
      p = fetchBounded(url, {
        dispatcher: this.#c.dispatcher,
        headers: { 'user-agent': this.#c.cfg.userAgent },
        maxBytes: this.#c.cfg.rootMaxLength,
        limits: answerLimits(this.#c.cfg),
      }).then((res) => {
        if (res.statusCode !== 200) {
          throw new AgentError('TUF_REFRESH', `GET ${url} answered ${res.statusCode}`);
        }
        return res.body.toString('base64');
      });
      this.#fetched.set(key, p);
    }
    return p;
  }
}

/** What the install reports of a set need, kept in its journal (AtomicOptions.reportContext). */
interface ReportContext {
  director: { targetsVersion: number; targetsHash: string; correlationId: string | null };
  metadata: { targetsVersion: number; targetsHash: string };
  /** Per ECU: the snapshot version and hash logged on chain that its image was checked against. */
  release?: Record<string, { targetsVersion: number; targetsHash: string }>;
  checkpoint: { chainId: number; blockNumber: number; blockHash: string; timestamp: number };
  startedAt: string;
  from: Record<string, { name: string; digest: string } | null>;
}

function chainIdOf(opts: VehicleUpdateOptions): number {
  if (opts.chainId !== undefined) return opts.chainId;
  const id = (opts.chain as { chainId?: unknown }).chainId;
  return typeof id === 'number' ? id : 0;
}

/**
 * Signs (vehicle key, Sigstore bundle) and queues one install report per ECU of a settled set,
 * once per set and ECU (a recovery after a crash finds what was queued). A secondary's report
 * carries its own signed result (ecuResult); an ECU whose result did not verify gets none.
 */
async function queueEcuReports(
  c: Cycle,
  run: AtomicRun,
): Promise<{ id: string; ecuSerial: string }[]> {
  const ctx = run.reportContext as ReportContext | undefined;
  if (!ctx) return [];
  const outbox = new ReportOutbox(c.opts.stateDir, c.cfg);
  const out: { id: string; ecuSerial: string }[] = [];
  for (const e of run.ecus) {
    const remote = c.remotes.some((r) => r.serial === e.serial);
    if (e.resultError || (remote && !e.result)) continue;
    const key = createHash('sha256').update(`${run.id}/${e.serial}`).digest('hex').slice(0, 40);
    const existing = await outbox.findByKey(key);
    if (existing) {
      out.push({ id: existing, ecuSerial: e.serial });
      continue;
    }
    const hardwareId = endpoints(c).find((x) => x.serial === e.serial)?.hardwareId ?? '';
    const { bundle, predicate } = await signInstallReport({
      stateDir: c.opts.stateDir,
      vehicle: c.opts.vehicle,
      ecu: { serial: e.serial, hardwareId },
      from: ctx.from[e.serial] ?? null,
      to: {
        name: e.target.name,
        version: e.target.version,
        releaseCounter: e.target.releaseCounter,
        digest: e.target.sha256,
      },
      result: e.outcome === 'COMMITTED' ? 'SUCCESS' : 'ROLLED_BACK',
      startedAt: new Date(ctx.startedAt),
      finishedAt: new Date(Math.max(c.now().getTime(), Date.parse(ctx.startedAt))),
      odometerKm: c.opts.odometerKm ?? 0,
      metadata: ctx.release?.[e.serial] ?? ctx.metadata,
      checkpoint: ctx.checkpoint,
      director: ctx.director,
      ...(remote && e.result ? { ecuResult: e.result } : {}),
    });
    out.push({ id: await outbox.enqueue(predicate.counter, key, bundle), ecuSerial: e.serial });
  }
  return out;
}

/** Sends the queued install reports (the existing outbox); undefined when none were queued. */
async function sendReports(
  c: Cycle,
  queued: { id: string; ecuSerial: string }[],
): Promise<{ id: string; ecuSerial: string; sent: boolean }[] | undefined> {
  if (queued.length === 0) return undefined;
  if (c.opts.sendReports === false) return queued.map((q) => ({ ...q, sent: false }));
  const flushed = await new ReportOutbox(c.opts.stateDir, c.cfg).flush(
    c.opts.serverUrl,
    c.dispatcher,
  );
  return queued.map((q) => ({ ...q, sent: flushed.sent.includes(q.id) }));
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

/**
 * Every ECU's signed version report for a fresh nonce, each checked against the ECU's pinned key,
 * the nonce and its last counter (ECU_REPORT_SIGNATURE_INVALID, ECU_REPORT_REPLAYED).
 */
async function collectReports(
  c: Cycle,
  checkpoint: TrustedCheckpoint,
): Promise<Map<string, SignedEnvelope<EcuVersionReport>>> {
  const nonce = randomBytes(16).toString('hex');
  const time = new Date(Math.max(checkpoint.timestamp * 1000, c.now().getTime()))
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
  const countersPath = join(c.opts.stateDir, 'ecu-report-counters.json');
  const counters = ((await readJsonIfExists(countersPath).catch(() => undefined)) ?? {}) as Record<
    string,
    number
  >;
  const out = new Map<string, SignedEnvelope<EcuVersionReport>>();
  out.set(c.local.serial, await c.local.ecu.versionReport({ nonce, time }));
  const answers = await Promise.all(c.remotes.map((r) => r.versionReport(nonce, time)));
  for (const [i, r] of c.remotes.entries()) {
    const report = checkVersionReport(answers[i], {
      serial: r.serial,
      key: r.key,
      nonce,
      lastCounter: counters[r.serial] ?? -1,
    });
    counters[r.serial] = report.signed.report_counter;
    out.set(r.serial, report);
  }
  await writeJsonDurable(countersPath, counters);
  return out;
}

/** Signs the vehicle version manifest with the primary's key and posts it (vehicle-signed). */
async function sendManifest(
  c: Cycle,
  _checkpoint: TrustedCheckpoint,
  reports: Map<string, SignedEnvelope<EcuVersionReport>>,
  run: AtomicRun | undefined,
  correlationId: string | null,
): Promise<ManifestDelivery | undefined> {
  if (c.opts.sendManifest === false) return undefined;
  const signed: VehicleVersionManifest = {
    vehicle: c.opts.vehicle.vinCommitment.replace(/^0x/, '').toLowerCase(),
    primary_ecu_serial: c.local.serial,
    ecu_version_manifests: Object.fromEntries(reports),
    ...(run && run.ecus.length > 0 && correlationId !== null
      ? {
          installation_report: {
            correlation_id: correlationId,
            items: run.ecus.map((e) => ({
              ecu: e.serial,
              result: {
                code: e.resultError ?? (e.outcome === 'COMMITTED' ? 'OK' : e.code || 'ROLLED_BACK'),
                success: e.outcome === 'COMMITTED' && e.resultError === undefined,
                description: '',
              },
            })),
          },
        }
      : {}),
  };
  const manifest = await signEnvelope(signed, [c.opts.vehicle.signer]);
  const outbox = new ManifestOutbox(c.opts.stateDir);
  const id = await outbox.enqueue(manifest);
  const url = `${directorBase(c.opts)}/api/v1/director/manifest`;
  return outbox.flush(id, async (body) =>
    fetchBounded(url, {
      method: 'POST',
      dispatcher: c.dispatcher,
      headers: {
        'user-agent': c.cfg.userAgent,
        'content-type': 'application/json',
        ...(await c.signRequest('POST', url, Buffer.from(body))),
      },
      body,
      maxBytes: c.cfg.answerMaxLength,
      limits: answerLimits(c.cfg),
    }),
  );
}
