import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  directorAssignment,
  enrollSimulatedVehicle,
  installReport,
  sendVersionManifest,
  type SimulatedVehicle,
} from './vehicle.js';

/** Hard bounds: the simulator is a load and demo tool, never an unbounded one. */
export const MAX_VEHICLES = 5000;
export const MAX_SECONDS = 3600;
/** Vehicles enrolled at once: enrollment signs a CSR and registers ECUs, two requests each. */
const ENROLL_CONCURRENCY = 20;

export interface FleetSimConfig {
  serverUrl: string;
  /** A token of scope `enroll` (the factory's). */
  enrollToken: string;
  vehicles: number;
  /** Hardware ID of every vehicle's primary ECU. */
  hardwareId: string;
  /** Share of assignments that end in a signed FAILURE report. */
  failureRate: number;
  /** Share of sightings of an assignment that the vehicle puts off (signed DEFERRED manifest). */
  deferralRate: number;
  /** How long the vehicles poll after enrollment. */
  seconds: number;
  /** Mean time between two polls of one vehicle (±50 % jitter). */
  pollMs: number;
  /** Index of the first vehicle (VINs are derived from it; change it to enroll another fleet). */
  firstIndex: number;
  random: () => number;
  signal?: AbortSignal;
  /**
   * Each vehicle stops polling once it has sent an install report (SUCCESS or FAILURE); the run
   * ends when all have, or at `seconds`, whichever comes first.
   */
  untilReported?: boolean;
}

export const defaultFleetSimConfig: Omit<FleetSimConfig, 'serverUrl' | 'enrollToken'> = {
  vehicles: 100,
  hardwareId: 'gw-x1',
  failureRate: 0,
  deferralRate: 0,
  seconds: 60,
  pollMs: 2000,
  firstIndex: 0,
  random: Math.random,
};

export interface FleetSimSummary {
  vehicles: number;
  seconds: number;
  polls: number;
  /** Distinct assignments (correlation IDs) the vehicles saw in their Director targets. */
  assignmentsSeen: number;
  succeeded: number;
  failed: number;
  /** Signed deferrals sent (a vehicle may defer one assignment several times). */
  deferrals: number;
  /** Requests that failed (transport errors or unexpected statuses), by message. */
  errors: Record<string, number>;
  /** Commitments of the enrolled vehicles, sorted. */
  commitments: string[];
}

/** Range checks on a configuration; throws a RangeError naming the option. */
export function checkFleetSimConfig(c: FleetSimConfig): void {
  const bad = (what: string) => {
    throw new RangeError(what);
  };
  if (!Number.isInteger(c.vehicles) || c.vehicles < 1 || c.vehicles > MAX_VEHICLES) {
    bad(`--vehicles must be an integer from 1 to ${MAX_VEHICLES}`);
  }
  if (!(c.seconds > 0 && c.seconds <= MAX_SECONDS)) bad(`--seconds must be in (0, ${MAX_SECONDS}]`);
  for (const [name, rate] of [
    ['--failure-rate', c.failureRate],
    ['--deferral-rate', c.deferralRate],
  ] as const) {
    if (!(rate >= 0 && rate <= 1)) bad(`${name} must be in [0, 1]`);
  }
  if (!(c.pollMs >= 50 && c.pollMs <= 600_000)) bad('--poll-ms must be in [50, 600000]');
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Enrolls the fleet: each vehicle with its own key, certificate and registered ECU. */
export async function enrollFleet(
  c: Pick<FleetSimConfig, 'serverUrl' | 'enrollToken' | 'vehicles' | 'hardwareId' | 'firstIndex'>,
  dir: string,
): Promise<SimulatedVehicle[]> {
  const fleet: SimulatedVehicle[] = [];
  for (let i = 0; i < c.vehicles; i += ENROLL_CONCURRENCY) {
    const batch = Math.min(ENROLL_CONCURRENCY, c.vehicles - i);
    fleet.push(
      ...(await Promise.all(
        Array.from({ length: batch }, (_, k) =>
          enrollSimulatedVehicle({
            serverUrl: c.serverUrl,
            factoryToken: c.enrollToken,
            dir,
            index: c.firstIndex + i + k,
            hardwareId: c.hardwareId,
          }),
        ),
      )),
    );
  }
  return fleet;
}

/**
 * Drives enrolled vehicles for `seconds`: each polls its Director targets (signed requests) and
 * answers a new assignment with a signed deferral, a signed FAILURE install attestation, or a
 * signed SUCCESS attestation and a signed version manifest showing the image installed. Stops by
 * itself at the deadline (or on `signal`) and returns what was sent.
 */
export async function driveFleet(
  c: FleetSimConfig,
  fleet: readonly SimulatedVehicle[],
): Promise<FleetSimSummary> {
  const summary: FleetSimSummary = {
    vehicles: fleet.length,
    seconds: c.seconds,
    polls: 0,
    assignmentsSeen: 0,
    succeeded: 0,
    failed: 0,
    deferrals: 0,
    errors: {},
    commitments: fleet.map((v) => v.vinCommitment).sort(),
  };
  const deadline = Date.now() + c.seconds * 1000;
  const seen = new Set<string>();
  const done = new Set<string>();
  /** Vehicles that sent an install report. */
  const reported = new Set<string>();
  const expect = async (what: string, res: Response) => {
    if (res.status >= 300) throw new Error(`${what}: HTTP ${res.status}`);
    await res.arrayBuffer();
  };
  const step = async (v: SimulatedVehicle) => {
    summary.polls++;
    const image = await directorAssignment(c.serverUrl, v);
    if (!image?.correlationId) return;
    const key = `${v.vinCommitment}:${image.correlationId}`;
    if (done.has(key)) return;
    if (!seen.has(key)) {
      seen.add(key);
      summary.assignmentsSeen++;
    }
    const report = { correlationId: image.correlationId };
    if (c.random() < c.deferralRate) {
      const res = await sendVersionManifest(c.serverUrl, v, {
        ...report,
        code: 'DEFERRED',
        success: false,
      });
      await expect('deferral', res);
      summary.deferrals++;
      return;
    }
    const ok = c.random() >= c.failureRate;
    const bundle = await installReport(v, c.hardwareId, image, ok ? 'SUCCESS' : 'FAILURE');
    await expect(
      'install report',
      await fetch(`${c.serverUrl}/api/v1/attestations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bundle),
      }),
    );
    done.add(key);
    reported.add(v.vinCommitment);
    if (!ok) {
      summary.failed++;
      return;
    }
    v.running = { name: image.name, sha256: image.sha256 };
    await expect(
      'manifest',
      await sendVersionManifest(c.serverUrl, v, { ...report, code: 'OK', success: true }),
    );
    summary.succeeded++;
  };
  await Promise.all(
    fleet.map(async (v) => {
      // Spread the first polls over one interval, then ±50 % jitter.
      await sleep(c.random() * c.pollMs, c.signal);
      while (Date.now() < deadline && !c.signal?.aborted) {
        if (c.untilReported && reported.has(v.vinCommitment)) return;
        try {
          await step(v);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          summary.errors[message] = (summary.errors[message] ?? 0) + 1;
        }
        const wait = c.pollMs * (0.5 + c.random());
        await sleep(Math.min(wait, Math.max(0, deadline - Date.now())), c.signal);
      }
    }),
  );
  return summary;
}

/** Enrolls `vehicles` simulated vehicles and drives them for `seconds`; the whole simulator. */
export async function runFleetSim(
  c: FleetSimConfig,
  onEnrolled?: (fleet: readonly SimulatedVehicle[]) => Promise<void> | void,
): Promise<FleetSimSummary> {
  checkFleetSimConfig(c);
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-fleet-sim-'));
  try {
    const fleet = await enrollFleet(c, dir);
    await onEnrolled?.(fleet);
    return await driveFleet(c, fleet);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
