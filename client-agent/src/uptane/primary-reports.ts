/**
 * What a primary's cycle reports: every ECU's signed version report, the signed vehicle version
 * manifest for the Director, and one signed install report per ECU of a settled set.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  signEnvelope,
  type EcuVersionReport,
  type SignedEnvelope,
  type VehicleVersionManifest,
} from '@tufchain/transparency/wire';
import { signInstallReport } from '../report/attestation.js';
import { ReportOutbox } from '../report/outbox.js';
import { readJsonIfExists, writeJsonDurable } from '../util/durable.js';
import { fetchBounded, answerLimits } from '../util/retrieval.js';
import type { TrustedCheckpoint } from '../verify/chain.js';
import type { AtomicRun } from './atomic.js';
import { checkVersionReport } from './ecu.js';
import { ManifestOutbox, type ManifestDelivery } from './manifest-outbox.js';
import { directorBase, endpoints, type Cycle, type VehicleUpdateOptions } from './primary-types.js';

/** What the install reports of a set need, kept in its journal (AtomicOptions.reportContext). */
export interface ReportContext {
  director: { targetsVersion: number; targetsHash: string; correlationId: string | null };
  metadata: { targetsVersion: number; targetsHash: string };
  /** Per ECU: the snapshot version and hash logged on chain that its image was checked against. */
  release?: Record<string, { targetsVersion: number; targetsHash: string }>;
  checkpoint: { chainId: number; blockNumber: number; blockHash: string; timestamp: number };
  startedAt: string;
  from: Record<string, { name: string; digest: string } | null>;
}

export function chainIdOf(opts: VehicleUpdateOptions): number {
  if (opts.chainId !== undefined) return opts.chainId;
  const id = (opts.chain as { chainId?: unknown }).chainId;
  return typeof id === 'number' ? id : 0;
}

/**
 * Signs (vehicle key, Sigstore bundle) and queues one install report per ECU of a settled set,
 * once per set and ECU (a recovery after a crash finds what was queued). A secondary's report
 * carries its own signed result (ecuResult); an ECU whose result did not verify gets none.
 */
export async function queueEcuReports(
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
export async function sendReports(
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

/**
 * Every ECU's signed version report for a fresh nonce, each checked against the ECU's pinned key,
 * the nonce and its last counter (ECU_REPORT_SIGNATURE_INVALID, ECU_REPORT_REPLAYED).
 */
export async function collectReports(
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
export async function sendManifest(
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
