import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { resolveConfig, type Config } from './config.js';
import { AgentError } from './error.js';
import {
  installImage,
  recoverInstall,
  resumableBytes,
  type InstallMachine,
} from './install/state-machine.js';
import { InstallJournalStore, type InstallJournal, type JournalTarget } from './journal.js';
import {
  signInstallReport,
  type InstallReportBundle,
  type VehicleCredentials,
} from './report/attestation.js';
import { ReportOutbox, type FlushResult } from './report/outbox.js';
import { collectInclusionProofs, isAnchorLookup } from './report/proofs.js';
import type { SlotImage, SlotName, SlotState, SlotStore } from './slots/slot-store.js';
import { UndiciFetcher } from './tuf/fetcher.js';
import { createDispatcher, releaseDispatcher } from './util/http.js';
import { acquireStateLock } from './util/lock.js';
import { fetchFirmwareHint } from './tuf/hint.js';
import { chooseDelta } from './tuf/delta-target.js';
import { stageMetadata } from './tuf/staged.js';
import { TufRepository, type FirmwareTarget } from './tuf/updater.js';
import { startReadbackWorker } from './install/slot-readback.js';
import { verifyFirmwareBundle, type FirmwareKey } from './verify/attestation.js';
import {
  readTrustedTime,
  verifyReleaseOnChain,
  type ReleaseLog,
  type TrustedCheckpoint,
} from './verify/chain.js';
import { CachedReleaseLog, isIncrementalReleaseLog } from './verify/release-cache.js';
import { assertMetadataFresh, referenceTime } from './verify/time.js';

export type PreconditionsResult = { ok: true } | { ok: false; reason: string };

export interface UpdateOptions {
  /** Base URL of the update server (metadata under /metadata, targets under /targets). */
  serverUrl: string;
  /** tuf-js's trusted metadata directory for this repository. */
  metadataDir: string;
  /** The initial trusted root (1.root.json bytes), installed when metadataDir has none. */
  trustedRootJson: Uint8Array;
  hardwareId: string;
  ecuSerial: string;
  /** The transparency log reader (@tufchain/transparency ChainReader: RPC quorum, confirmations). */
  chain: ReleaseLog;
  /** Chain ID recorded in install reports (defaults to the reader's `chainId` when it has one). */
  chainId?: number;
  /** The pinned OEM firmware-attestation key. */
  firmwareKey: FirmwareKey;
  slots: SlotStore;
  vehicle: VehicleCredentials;
  /** Journal, report counter and outbox (default: `<metadataDir>/.agent`). */
  stateDir?: string;
  odometerKm?: number;
  clock?: () => Date;
  /** Defers an install (vehicle moving, battery low); a deferred cycle writes nothing. */
  preconditions?: (target: FirmwareTarget) => Promise<PreconditionsResult>;
  /** Runs in the freshly booted slot; false (or a throw) rolls back to the previous slot. */
  healthCheck?: (slot: SlotName, image: SlotImage) => Promise<boolean>;
  /** Send queued reports at the end of the cycle (default true). */
  sendReports?: boolean;
  /**
   * Pinned transparency log key(s) (C2SP verifier keys) and checkpoint origin: proof bundles of
   * sent reports are kept only after they verify offline and against `chain` (when it is a
   * ChainReader). Without it they are kept after parsing only.
   */
  transparencyLog?: { logKeys: readonly string[]; origin?: string };
  onProgress?: (received: number, total: number) => void;
  config?: Partial<Config>;
  /**
   * The repository serves only a delta, not the full image (a delta-only offline bundle): with
   * no delta TUF lists from the image the active slot holds, the update is refused with
   * BUNDLE_BASE_MISMATCH before anything is written, and a delta that fails is not followed by
   * the full image (its own code; the active slot stays as it is).
   */
  deltaOnly?: boolean;
}

export interface TargetSummary {
  name: string;
  version: string;
  releaseCounter: number;
  sha256: string;
  length: number;
}

export interface UpdateResult {
  status: 'UPDATED' | 'UP_TO_DATE' | 'DEFERRED' | 'ROLLED_BACK';
  target?: TargetSummary;
  /** The committed slot after this cycle. */
  activeSlot: SlotName;
  release?: { metadataVersion: number; metadataHash: string; txHash: string; blockNumber: number };
  report?: { id: string; bundle: InstallReportBundle; sent: boolean };
  deferredReason?: string;
  /** Outcome of an install that an earlier, interrupted run left behind, completed first. */
  recovered?: RecoveryResult;
  resumes?: number;
  /** How the image came: `delta` or `full` (with why a planned delta fell back), and the bytes. */
  install?: InstallPathSummary;
}

export interface InstallPathSummary {
  path: 'delta' | 'full';
  fallback?: { code: string; message: string };
  /** Bytes over the network for the image: the delta's, the full image's, or both. */
  networkBytes: number;
}

export interface RecoveryResult {
  outcome: 'NOTHING' | 'COMMITTED' | 'ROLLED_BACK' | 'INSTALL_ABANDONED';
  target?: TargetSummary;
  reportId?: string;
}

function summary(t: {
  name: string;
  version: string;
  releaseCounter: number;
  sha256: string;
  length: number;
}): TargetSummary {
  return {
    name: t.name,
    version: t.version,
    releaseCounter: t.releaseCounter,
    sha256: t.sha256,
    length: t.length,
  };
}

function chainIdOf(opts: UpdateOptions): number {
  if (opts.chainId !== undefined) return opts.chainId;
  const c = (opts.chain as { chainId?: unknown }).chainId;
  return typeof c === 'number' ? c : 0;
}

interface Context {
  opts: UpdateOptions;
  cfg: Config;
  stateDir: string;
  machine: InstallMachine;
  outbox: ReportOutbox;
  dispatcher: Dispatcher;
  /** The vehicle's clock, moved forward to the chain's confirmed time once that is read. */
  now: () => Date;
  /** Called with the chain's confirmed time: `now` never runs behind it from then on. */
  trustChainTime: (checkpoint: TrustedCheckpoint) => void;
  /** opts.chain, with the release entries for this hardware ID cached when the reader allows. */
  releaseLog: ReleaseLog;
}

/** Signs the install report and queues it, once per install attempt (idempotent across crashes). */
async function queueReport(
  ctx: Pick<Context, 'opts' | 'stateDir' | 'outbox' | 'now'>,
  j: InstallJournal,
  result: 'SUCCESS' | 'ROLLED_BACK',
): Promise<string> {
  const existing = await ctx.outbox.findByKey(j.installId);
  if (existing) return existing;
  const { opts } = ctx;
  const { bundle, predicate } = await signInstallReport({
    stateDir: ctx.stateDir,
    vehicle: opts.vehicle,
    ecu: { serial: opts.ecuSerial, hardwareId: opts.hardwareId },
    from: j.from,
    to: {
      name: j.target.name,
      version: j.target.version,
      releaseCounter: j.target.releaseCounter,
      digest: j.target.sha256,
    },
    result,
    startedAt: new Date(j.startedAt),
    // Never before the chain checkpoint the install was checked against (a clock set back).
    finishedAt: new Date(
      Math.max(ctx.now().getTime(), Date.parse(j.startedAt), j.checkpoint.timestamp * 1000),
    ),
    odometerKm: opts.odometerKm ?? 0,
    metadata: j.metadata,
    checkpoint: j.checkpoint,
    install: j.install,
  });
  return ctx.outbox.enqueue(predicate.counter, j.installId, bundle);
}

async function openContext(opts: UpdateOptions): Promise<Context> {
  const cfg = resolveConfig(opts.config);
  const stateDir = opts.stateDir ?? join(opts.metadataDir, '.agent');
  await mkdir(stateDir, { recursive: true });
  const outbox = new ReportOutbox(stateDir, cfg);
  const local = opts.clock ?? (() => new Date());
  // A vehicle clock behind the chain's confirmed time is behind the true time: the report's
  // timestamps follow the chain's instead, as expiry does (verify/time.ts).
  let behindMs = 0;
  const now = (): Date => new Date(local().getTime() + behindMs);
  const trustChainTime = (checkpoint: TrustedCheckpoint): void => {
    behindMs = Math.max(behindMs, checkpoint.timestamp * 1000 - local().getTime());
  };
  const machine: InstallMachine = {
    slots: opts.slots,
    journal: new InstallJournalStore(stateDir),
    healthCheck: opts.healthCheck,
    report: (j, result) => queueReport({ opts, stateDir, outbox, now }, j, result),
  };
  const releaseLog = isIncrementalReleaseLog(opts.chain)
    ? new CachedReleaseLog(opts.chain, { stateDir, hardwareId: opts.hardwareId })
    : opts.chain;
  const dispatcher = createDispatcher(cfg);
  return { opts, cfg, stateDir, machine, outbox, dispatcher, now, trustChainTime, releaseLog };
}

/**
 * One verified update cycle. Every check — TUF (tuf-js), expiry against confirmed chain time, the
 * on-chain log (exact metadata hash, confirmations, quorum, recall, minimum version), the OEM
 * firmware attestation, and policy (hardware ID, no downgrade, blocked images, preconditions) —
 * passes before the first byte is written to the inactive slot. Any failure throws an AgentError
 * and leaves the active slot as it was.
 */
export async function runUpdate(opts: UpdateOptions): Promise<UpdateResult> {
  const ctx = await openContext(opts);
  const unlock = await acquireStateLock(ctx.stateDir).catch(async (err: unknown) => {
    await releaseDispatcher(ctx.dispatcher);
    throw err;
  });
  const sendReports = async (): Promise<FlushResult | undefined> => {
    if (!(opts.sendReports ?? true)) return undefined;
    const flushed = await ctx.outbox.flush(opts.serverUrl, ctx.dispatcher);
    await collectInclusionProofs(
      ctx.outbox,
      opts.serverUrl,
      ctx.dispatcher,
      opts.transparencyLog && {
        ...opts.transparencyLog,
        ...(isAnchorLookup(opts.chain) ? { chain: opts.chain } : {}),
      },
    );
    return flushed;
  };
  try {
    let result: UpdateResult;
    try {
      result = await runCycle(ctx);
    } catch (err) {
      // Reports queued earlier (or by this cycle's recovery) still go out; the refusal stands.
      await sendReports().catch(() => undefined);
      throw err;
    }
    const flushed = await sendReports();
    if (result.report && flushed) result.report.sent = flushed.sent.includes(result.report.id);
    return result;
  } finally {
    try {
      await releaseDispatcher(ctx.dispatcher);
    } finally {
      await unlock();
    }
  }
}

/** The policy against what is installed: install, nothing to do, or why not. */
function installVerdict(
  state: SlotState,
  target: FirmwareTarget,
  cfg: Config,
): 'INSTALL' | 'UP_TO_DATE' | AgentError {
  const installed = state.slots[state.active];
  if (installed?.sha256 === target.sha256) return 'UP_TO_DATE';
  if (installed && target.releaseCounter <= installed.releaseCounter) {
    return new AgentError(
      'DOWNGRADE',
      `release ${target.releaseCounter} is not newer than installed ${installed.releaseCounter}`,
    );
  }
  if ((state.failures[target.sha256] ?? 0) >= cfg.maxInstallFailures) {
    return new AgentError(
      'IMAGE_BLOCKED',
      `${target.name} failed ${state.failures[target.sha256]} times; waiting for a newer release`,
    );
  }
  return 'INSTALL';
}

/** A download the agent cut or could not make: its code says more than the attestation's would. */
function isDownloadRefusal(err: unknown): err is AgentError {
  return (
    err instanceof AgentError &&
    (err.code === 'ENDLESS_DATA' ||
      err.code === 'DOWNLOAD_TOO_SLOW' ||
      err.code === 'DOWNLOAD_TIMEOUT' ||
      err.code === 'DOWNLOAD_FAILED')
  );
}

/** The OEM's firmware attestation, itself a TUF target: downloaded, then verified for `target`. */
async function verifyAttestationOf(
  ctx: Context,
  repo: TufRepository,
  target: FirmwareTarget,
): Promise<void> {
  const { opts, cfg } = ctx;
  const attestationTarget = await repo.getTarget(target.attestationPath).catch((err: unknown) => {
    if (isDownloadRefusal(err)) throw err;
    throw new AgentError('ATTESTATION_MISSING', `no attestation target ${target.attestationPath}`, {
      cause: err,
    });
  });
  if (attestationTarget.length > cfg.attestationMaxLength) {
    throw new AgentError('ATTESTATION_INVALID', 'attestation bundle is too large');
  }
  let bundleBytes: Uint8Array;
  try {
    bundleBytes = await repo.downloadSmallTarget(attestationTarget, join(ctx.stateDir, 'tmp'));
  } catch (err) {
    if (isDownloadRefusal(err)) throw err;
    throw new AgentError('ATTESTATION_INVALID', 'attestation bundle download failed verification', {
      cause: err,
    });
  }
  await verifyFirmwareBundle(bundleBytes, opts.firmwareKey, {
    name: target.name,
    sha256: target.sha256,
    hardwareId: opts.hardwareId,
    releaseCounter: target.releaseCounter,
  });
}

async function runCycle(ctx: Context): Promise<UpdateResult> {
  const { opts, cfg } = ctx;
  const { slots } = opts;
  const recovery = await recoverInstall(ctx.machine);
  const interrupted = recovery.outcome === 'INSTALL_ABANDONED' ? recovery.journal : undefined;
  const recovered: RecoveryResult = {
    outcome: recovery.outcome === 'NOTHING' ? 'NOTHING' : recovery.outcome,
    ...(recovery.journal ? { target: summary(recovery.journal.target) } : {}),
    ...(recovery.reportId ? { reportId: recovery.reportId } : {}),
  };

  // 1. TUF metadata workflow (tuf-js), then expiry against the later of local and chain time.
  // tuf-js refreshes a staging copy, trusted only once the chain has logged it (tuf/staged.ts).
  const stage = await stageMetadata(opts.metadataDir);
  const repo = new TufRepository({
    metadataDir: stage.dir,
    repositoryUrl: opts.serverUrl,
    trustedRootJson: opts.trustedRootJson,
    fetcher: new UndiciFetcher(cfg, ctx.dispatcher),
    config: cfg,
  });
  // The chain's time does not depend on the metadata: it is asked for while tuf-js refreshes, and
  // its errors come after the refresh's.
  const chainTime = readTrustedTime(opts.chain);
  chainTime.catch(() => undefined);
  await repo.refresh();
  const trusted = await repo.trustedMetadata();
  const checkpointTime = await chainTime;
  ctx.trustChainTime(checkpointTime);
  const expiryTime = referenceTime(ctx.now(), checkpointTime.timestamp);
  assertMetadataFresh(trusted, expiryTime);
  // and every delegated role the lookups below walk through (bins, supplier roles)
  repo.checkDelegationsExpiryAt(expiryTime);

  // 2. The newest firmware for this hardware ID: top-level targets, or the server's hint resolved
  // through the TUF delegations (hashed bins, supplier roles).
  const hint =
    trusted.targets.signed.delegations === undefined
      ? undefined
      : await fetchFirmwareHint(ctx.dispatcher, opts.serverUrl, opts.hardwareId, cfg);
  const target = await repo.findFirmwareTarget(opts.hardwareId, hint);
  if (!target.hardwareIds.includes(opts.hardwareId)) {
    throw new AgentError('HARDWARE_ID_MISMATCH', `${target.name} is not for ${opts.hardwareId}`);
  }

  // 3-5. Transparency (exactly this metadata is logged, confirmed, not recalled, above the
  // minimum), policy against what is installed, and the OEM's firmware attestation. The chain and
  // the attestation are independent questions: they are asked at once once the policy says an
  // install is due, and answered in this order, so a failure's error code does not depend on
  // which answer came first. Nothing is written before all of them hold.
  const releaseCheck = verifyReleaseOnChain({
    chain: ctx.releaseLog,
    snapshotBytes: trusted.snapshotBytes,
    snapshotVersion: trusted.snapshot.signed.version,
    hardwareId: opts.hardwareId,
    target,
  });
  releaseCheck.catch(() => undefined);
  const state = await slots.readState().catch(async (err: unknown) => {
    await releaseCheck;
    throw err;
  });
  const installed = state.slots[state.active];
  const verdict = installVerdict(state, target, cfg);
  // The read-back worker boots (~90 ms of CPU on the second core) while those are answered.
  const readbackWorker =
    verdict === 'INSTALL' ? startReadbackWorker(target.length, cfg) : undefined;
  try {
    const [releaseResult, attestationResult] = await Promise.allSettled([
      releaseCheck,
      verdict === 'INSTALL' ? verifyAttestationOf(ctx, repo, target) : Promise.resolve(),
    ]);
    if (releaseResult.status === 'rejected') throw releaseResult.reason;
    await stage.promote();
    const release = releaseResult.value;
    const releaseInfo = {
      metadataVersion: release.metadataVersion,
      metadataHash: release.metadataHash,
      txHash: release.txHash,
      blockNumber: release.blockNumber,
    };
    const base = { activeSlot: state.active, recovered, release: releaseInfo };
    if (verdict === 'UP_TO_DATE') {
      return { ...base, status: 'UP_TO_DATE', target: summary(target) };
    }
    if (verdict instanceof AgentError) throw verdict;
    if (attestationResult.status === 'rejected') throw attestationResult.reason;

    // 6. Preconditions (parked, battery...) may defer; nothing has been written.
    if (opts.preconditions) {
      const pre = await opts.preconditions(target);
      if (!pre.ok) {
        return { ...base, status: 'DEFERRED', target: summary(target), deferredReason: pre.reason };
      }
    }

    // 7. The install plan, journaled before the first byte is written.
    const slot = await slots.inactiveSlot();
    const url = repo.targetUrl(target.file);
    const jTarget: JournalTarget = {
      name: target.name,
      version: target.version,
      releaseCounter: target.releaseCounter,
      length: target.length,
      sha256: target.sha256,
      sha512: target.sha512,
      url,
    };
    // A delta-only repository has no full image to resume: its delta starts from the first byte.
    const resumeFrom = opts.deltaOnly
      ? 0
      : await resumableBytes(ctx.machine, interrupted, {
          slot,
          sha256: target.sha256,
          sha512: target.sha512,
        });
    const resumable = interrupted !== undefined && resumeFrom > 0;
    // A delta from the active image when TUF lists one (never over a resumable full download).
    const choice = resumable
      ? undefined
      : await chooseDelta(repo, target, installed ?? null, state.active);
    const delta = choice?.plan;
    if (opts.deltaOnly && !delta) {
      throw new AgentError(
        'BUNDLE_BASE_MISMATCH',
        `the bundle carries only a delta, and none from the image the active slot holds (${installed?.version ?? 'none'}): ${choice?.reason ?? 'no delta'}`,
      );
    }
    const j: InstallJournal & { phase: 'INSTALLING' } = {
      phase: 'INSTALLING',
      installId: resumable ? interrupted.installId : randomBytes(16).toString('hex'),
      slot,
      target: jTarget,
      from: installed
        ? {
            name: installed.name,
            version: installed.version,
            releaseCounter: installed.releaseCounter,
            digest: installed.sha256,
          }
        : null,
      startedAt: resumable ? interrupted.startedAt : ctx.now().toISOString(),
      metadata: { targetsVersion: release.metadataVersion, targetsHash: release.metadataHash },
      checkpoint: { chainId: chainIdOf(opts), ...checkpointTime },
    };

    // 8. Stream, read back, mark pending, boot, health check, commit or roll back; signed report.
    const done = await installImage(ctx.machine, j, {
      dispatcher: ctx.dispatcher,
      config: cfg,
      resumeFrom,
      readbackWorker,
      onProgress: opts.onProgress,
      delta,
      ...(opts.deltaOnly ? { fullFallback: false } : {}),
    });
    const after = await slots.readState();
    const bundle = (await ctx.outbox.get(done.reportId)) as InstallReportBundle;
    return {
      ...base,
      status: done.outcome === 'COMMITTED' ? 'UPDATED' : 'ROLLED_BACK',
      target: summary(target),
      activeSlot: after.active,
      report: { id: done.reportId, bundle, sent: false },
      resumes: done.resumes,
      install: {
        path: done.path,
        networkBytes: done.networkBytes,
        ...(done.fallback ? { fallback: done.fallback } : {}),
      },
    };
  } finally {
    await readbackWorker?.close();
  }
}

/** Sends queued install reports now (for a daemon tick without an update). */
export async function sendQueuedReports(opts: {
  serverUrl: string;
  stateDir: string;
  config?: Partial<Config>;
}): Promise<FlushResult> {
  return new ReportOutbox(opts.stateDir, resolveConfig(opts.config)).flush(opts.serverUrl);
}
