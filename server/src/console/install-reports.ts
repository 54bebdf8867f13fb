import { installPathSchema, type InstallPath } from '@tufchain/transparency/wire';
import type { AttestationRecord, RepositoryStore } from '../storage/store.js';

/** What the console shows of one stored install report: read from the statement it signed. */
export interface InstallReport {
  id: number;
  vinCommitment: string;
  ecuSerial: string;
  hardwareId: string | undefined;
  targetName: string;
  version: string | undefined;
  result: string;
  finishedAt: string | undefined;
  odometerKm: number | undefined;
  /** Delta or full image (and why a delta fell back), bytes over the network; older agents: none. */
  install: InstallPath | undefined;
  counter: number | null;
  reportSha256: string | null;
  receivedAt: string;
  logIndex: number | null;
}

const PAGE = 1000;

/**
 * Every stored install report, oldest first. Only signed reports are stored: intake verified
 * each one (signature, certificate chain, enrollment) before it reached the store.
 */
export async function installReports(store: RepositoryStore): Promise<InstallReport[]> {
  const out: InstallReport[] = [];
  let afterId: number | undefined;
  for (;;) {
    const rows = await store.attestations({ ...(afterId ? { afterId } : {}), limit: PAGE });
    for (const row of rows) out.push(installReport(row));
    const last = rows.at(-1);
    if (rows.length < PAGE || !last) return out;
    afterId = last.id;
  }
}

interface SignedPredicate {
  ecu?: { hardwareId?: unknown };
  to?: { version?: unknown };
  finishedAt?: unknown;
  odometerKm?: unknown;
  install?: unknown;
}

export function installReport(row: AttestationRecord): InstallReport {
  const p = predicateOf(row.bundleJson);
  return {
    id: row.id,
    vinCommitment: row.vinCommitment,
    ecuSerial: row.ecuSerial,
    hardwareId: typeof p.ecu?.hardwareId === 'string' ? p.ecu.hardwareId : undefined,
    targetName: row.targetName,
    version: typeof p.to?.version === 'string' ? p.to.version : undefined,
    result: row.result,
    finishedAt: typeof p.finishedAt === 'string' ? p.finishedAt : undefined,
    odometerKm: typeof p.odometerKm === 'number' ? p.odometerKm : undefined,
    install: installPathSchema.safeParse(p.install).data,
    counter: row.counter,
    reportSha256: row.reportSha256,
    receivedAt: row.receivedAt,
    logIndex: row.logIndex,
  };
}

function predicateOf(bundleJson: string): SignedPredicate {
  try {
    const bundle = JSON.parse(bundleJson) as { dsseEnvelope?: { payload?: unknown } };
    const payload = bundle.dsseEnvelope?.payload;
    if (typeof payload !== 'string') return {};
    const statement = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as {
      predicate?: SignedPredicate | null;
    };
    return typeof statement.predicate === 'object' && statement.predicate !== null
      ? statement.predicate
      : {};
  } catch {
    return {};
  }
}

/**
 * Per hardware ID, how many vehicle ECUs run each version: the newest successful report of each
 * (vehicle commitment, ECU serial), in the order the store received them.
 */
export function coverageByHardware(
  reports: InstallReport[],
  until?: string,
): Map<string, Map<string, number>> {
  const running = new Map<string, { hardwareId: string; version: string }>();
  for (const r of reports) {
    if (until !== undefined && r.receivedAt > until) continue;
    if (r.result !== 'SUCCESS') continue;
    running.set(`${r.vinCommitment}/${r.ecuSerial}`, {
      hardwareId: r.hardwareId ?? 'unknown',
      version: r.version ?? r.targetName,
    });
  }
  const out = new Map<string, Map<string, number>>();
  for (const { hardwareId, version } of running.values()) {
    const versions = out.get(hardwareId) ?? new Map<string, number>();
    versions.set(version, (versions.get(version) ?? 0) + 1);
    out.set(hardwareId, versions);
  }
  return out;
}

/**
 * Per hardware ID and version, the number of ECUs on it after each successful report, in the
 * order received: the coverage over time.
 */
export function coverageHistory(
  reports: InstallReport[],
): Map<string, Map<string, [number, number][]>> {
  const running = new Map<string, { hardwareId: string; version: string }>();
  const counts = new Map<string, number>();
  const out = new Map<string, Map<string, [number, number][]>>();
  const record = (hardwareId: string, version: string, t: number) => {
    const key = `${hardwareId}\u0000${version}`;
    const byVersion = out.get(hardwareId) ?? new Map<string, [number, number][]>();
    const points = byVersion.get(version) ?? [];
    points.push([t, counts.get(key) ?? 0]);
    byVersion.set(version, points);
    out.set(hardwareId, byVersion);
  };
  for (const r of reports) {
    if (r.result !== 'SUCCESS') continue;
    const t = Date.parse(r.receivedAt);
    const ecu = `${r.vinCommitment}/${r.ecuSerial}`;
    const now = { hardwareId: r.hardwareId ?? 'unknown', version: r.version ?? r.targetName };
    const before = running.get(ecu);
    running.set(ecu, now);
    for (const [side, delta] of [
      [before, -1],
      [now, 1],
    ] as const) {
      if (!side) continue;
      const key = `${side.hardwareId}\u0000${side.version}`;
      counts.set(key, (counts.get(key) ?? 0) + delta);
      record(side.hardwareId, side.version, t);
    }
  }
  return out;
}
