/**
 * One fleet run: replicas up, a factory image published, the fleet enrolled and polling, one
 * release published through replica 0 while it polls, until every vehicle reported it or the run's
 * time is up; then what the logs hold. The bench (bench/fleet.ts) and its test run this.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { countLoggedAttestations, type LoggedAttestations } from './log-check.js';
import { processTreeCpuSeconds, startFleetReplicas, type FleetRelease } from './replicas.js';
import { defaultFleetConfig, FleetSimulator, type FleetConfig } from './simulator.js';

export interface FleetScenarioOptions {
  /** An empty PostgreSQL database the replicas share. */
  databaseUrl: string;
  replicas?: number;
  fleet?: Partial<typeof defaultFleetConfig>;
  /** The whole polling run, release included, never lasts longer than this. */
  seconds: number;
  /**
   * Polling before the release. Its second half is the steady state (every vehicle past its first
   * contact) whose server CPU is subtracted from the release window's.
   */
  releaseAfterMs: number;
  /** End the run as soon as every vehicle reported the release (tests), not at `seconds`. */
  stopWhenAllReported?: boolean;
  cpuProfileDir?: string;
  /**
   * After the release window, with polling halted: every vehicle reports a further release at
   * once, `inFlight` requests at a time (the intake alone, at saturation). Off when absent.
   */
  ingestBurst?: { inFlight: number };
  /** The postmaster's PID: PostgreSQL's CPU (all its processes) is measured alongside. */
  postgresPid?: number;
  /** More of the replicas' environment (TUFCHAIN_MAX_IN_FLIGHT_REQUESTS...). */
  serverEnv?: Record<string, string>;
  progress?: (what: string) => void;
}

export interface FleetScenarioResult {
  config: FleetConfig;
  enrollMs: number;
  release: FleetRelease;
  /** ms from sending the publish until each vehicle resolved the release (undefined: never). */
  sawReleaseMs: (number | undefined)[];
  /** ms from sending the publish until the last accepted report (undefined: not all came). */
  allReportedMs: number | undefined;
  stats: ReturnType<FleetSimulator['stats']>;
  /**
   * Server CPU seconds (all replicas), wall seconds and requests (attestations among them):
   * steady polling before the release, and the release window from just before the publish until
   * the last report was accepted (or the run ended).
   */
  steady: { cpuSeconds: number; wallSeconds: number; requests: number };
  releaseWindow: {
    cpuSeconds: number;
    wallSeconds: number;
    requests: number;
    attestations: number;
  };
  /**
   * The burst (ingestBurst): reports posted and refused, its wall seconds, and the CPU seconds of
   * the replicas and of PostgreSQL (null without postgresPid) while it ran.
   */
  ingestBurst?: {
    reports: number;
    failed: number;
    wallSeconds: number;
    cpuSeconds: number;
    postgresCpuSeconds: number | null;
  };
  logged: LoggedAttestations;
  /** CPU seconds of this process (the simulator) over the polling run, and its wall seconds. */
  simulator: { cpuSeconds: number; wallSeconds: number };
  storage: Awaited<ReturnType<typeof storageOf>>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export async function runFleetScenario(opts: FleetScenarioOptions): Promise<FleetScenarioResult> {
  const progress = opts.progress ?? (() => {});
  const replicas = await startFleetReplicas({
    databaseUrl: opts.databaseUrl,
    count: opts.replicas ?? 2,
    ...(opts.cpuProfileDir ? { cpuProfileDir: opts.cpuProfileDir } : {}),
    ...(opts.serverEnv ? { env: opts.serverEnv } : {}),
  });
  const stateDir = await mkdtemp(join(tmpdir(), 'tufchain-fleet-'));
  let fleet: FleetSimulator | undefined;
  try {
    const urls = replicas.replicas.map((r) => r.url);
    progress(`${urls.length.toString()} replicas up: ${urls.join(' ')}`);
    const hardwareId = opts.fleet?.hardwareId ?? defaultFleetConfig.hardwareId;
    const factory = await replicas.publishRelease(hardwareId, '1.0.0', 1);
    const config: FleetConfig = {
      ...defaultFleetConfig,
      ...opts.fleet,
      replicaUrls: urls,
      factoryToken: replicas.adminToken,
      stateDir,
      factoryImage: {
        name: factory.name,
        version: factory.version,
        releaseCounter: factory.releaseCounter,
        sha256: factory.sha256,
      },
      chainId: replicas.chain.chain.chainId,
    };
    fleet = await FleetSimulator.enroll(config, progress);
    progress(
      `${config.vehicles.toString()} vehicles enrolled in ${Math.round(fleet.enrollMs).toString()} ms`,
    );

    const simulatorCpuAtStart = process.cpuUsage();
    const runStart = performance.now();
    const runEnd = runStart + opts.seconds * 1000;
    fleet.start();
    await sleep(opts.releaseAfterMs / 2);
    const steadyFrom = {
      t: performance.now(),
      cpu: sum(await replicas.cpuSeconds()),
      n: fleet.requestCount(),
    };
    await sleep(opts.releaseAfterMs / 2);
    const steadyTo = {
      t: performance.now(),
      cpu: sum(await replicas.cpuSeconds()),
      n: fleet.requestCount(),
    };
    progress(
      `steady polling: ${Math.round(((steadyTo.n - steadyFrom.n) * 1000) / (steadyTo.t - steadyFrom.t)).toString()} req/s`,
    );

    const release = await replicas.publishRelease(hardwareId, '2.0.0', 2);
    const block = await replicas.chain.provider.getBlock('latest');
    if (!block?.hash) throw new Error('no latest block');
    fleet.release({ blockNumber: block.number, blockHash: block.hash, timestamp: block.timestamp });
    progress(
      `release ${release.name} published in ${Math.round(release.answeredAt - release.sentAt).toString()} ms`,
    );

    const allReported = await fleet.waitForReports(
      release.name,
      1,
      Math.max(0, runEnd - performance.now()),
    );
    let windowTo = {
      t: performance.now(),
      cpu: sum(await replicas.cpuSeconds()),
      n: fleet.requestCount(),
    };
    const allReportedMs = allReported ? windowTo.t - release.sentAt : undefined;
    progress(
      allReported
        ? `every vehicle reported in ${Math.round(allReportedMs!).toString()} ms`
        : 'not every vehicle reported in time',
    );
    if (!opts.stopWhenAllReported) await sleep(Math.max(0, runEnd - performance.now()));
    await fleet.halt();
    // Not every report had come at the end of the run: the window closes once the last in flight did.
    if (!allReported)
      windowTo = {
        t: performance.now(),
        cpu: sum(await replicas.cpuSeconds()),
        n: fleet.requestCount(),
      };
    const windowAttestations = fleet.stats().attestations.length;
    let ingestBurst: FleetScenarioResult['ingestBurst'];
    if (opts.ingestBurst) {
      const next = await replicas.publishRelease(hardwareId, '3.0.0', 3);
      progress(`burst: ${config.vehicles.toString()} vehicles sign a report of ${next.name}`);
      const prepared = await fleet.prepareReports({
        name: next.name,
        version: next.version,
        releaseCounter: next.releaseCounter,
        sha256: next.sha256,
      });
      const pgPid = opts.postgresPid;
      const cpu = async () => ({
        replicas: sum(await replicas.cpuSeconds()),
        postgres: pgPid === undefined ? null : await processTreeCpuSeconds(pgPid),
      });
      const from = { t: performance.now(), ...(await cpu()) };
      const failed = await prepared.post(opts.ingestBurst.inFlight);
      const to = { t: performance.now(), ...(await cpu()) };
      ingestBurst = {
        reports: config.vehicles,
        failed,
        wallSeconds: (to.t - from.t) / 1000,
        cpuSeconds: to.replicas - from.replicas,
        postgresCpuSeconds:
          to.postgres === null || from.postgres === null ? null : to.postgres - from.postgres,
      };
      progress(
        `burst: ${config.vehicles.toString()} reports in ${Math.round(to.t - from.t).toString()} ms, ${failed.toString()} refused`,
      );
    }
    await fleet.stop();
    const stats = fleet.stats();
    const simulatorCpu = process.cpuUsage(simulatorCpuAtStart);
    const simulator = {
      cpuSeconds: (simulatorCpu.user + simulatorCpu.system) / 1e6,
      wallSeconds: (performance.now() - runStart) / 1000,
    };
    const enrollMs = fleet.enrollMs;
    const sawReleaseMs = fleet
      .sawAt(release.name)
      .map((t) => (t === undefined ? t : t - release.sentAt));
    fleet = undefined;
    const logged = await countLoggedAttestations(urls);
    const storage = await storageOf(opts.databaseUrl);
    return {
      config,
      enrollMs,
      release,
      sawReleaseMs,
      allReportedMs,
      stats,
      steady: {
        cpuSeconds: steadyTo.cpu - steadyFrom.cpu,
        wallSeconds: (steadyTo.t - steadyFrom.t) / 1000,
        requests: steadyTo.n - steadyFrom.n,
      },
      releaseWindow: {
        cpuSeconds: windowTo.cpu - steadyTo.cpu,
        wallSeconds: (windowTo.t - steadyTo.t) / 1000,
        requests: windowTo.n - steadyTo.n,
        attestations: windowAttestations,
      },
      ...(ingestBurst ? { ingestBurst } : {}),
      logged,
      simulator,
      storage,
    };
  } finally {
    await fleet?.stop();
    await replicas.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** What the run left in PostgreSQL, for the capacity note's growth per year. */
async function storageOf(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM install_attestations) AS attestations,
              pg_total_relation_size('install_attestations') AS attestation_bytes,
              (SELECT size FROM tlog_size) AS log_entries,
              pg_total_relation_size('tlog_entries') + pg_total_relation_size('tlog_nodes')
                AS log_bytes,
              pg_database_size(current_database()) AS database_bytes`,
    );
    const r = rows[0]!;
    return {
      attestations: Number(r['attestations']),
      attestationBytes: Number(r['attestation_bytes']),
      logEntries: Number(r['log_entries']),
      logBytes: Number(r['log_bytes']),
      databaseBytes: Number(r['database_bytes']),
    };
  } finally {
    await client.end();
  }
}
