/**
 * The fleet simulator: npm run fleet:sim -- --server URL --token ENROLL_TOKEN [options]
 * N simulated vehicles against a tufchain server (real HTTP, a key and certificate per vehicle,
 * signed requests, signed version manifests and install attestations). Bounded in count and time:
 * it stops by itself after --seconds and prints a summary (a markdown table, or --json).
 *
 *   --vehicles N          default 100, at most 5000
 *   --seconds S           polling time after enrollment, default 60, at most 3600
 *   --failure-rate R      share of assignments answered with a signed FAILURE (default 0)
 *   --deferral-rate R     share of sightings put off with a signed DEFERRED manifest (default 0)
 *   --poll-ms MS          mean poll interval of a vehicle (default 2000)
 *   --hardware-id HW      the primary ECU's hardware ID (default gw-x1)
 *   --first-index I       VINs derive from it; another value enrolls another fleet (default 0)
 *   --group NAME          with --fleet-token: a static fleet group of the enrolled vehicles
 *   --until-reported      each vehicle stops once it sent an install report; the run ends when all
 *                         have (or after --seconds)
 */
import { parseArgs } from 'node:util';
import { defaultFleetSimConfig, runFleetSim, type FleetSimConfig } from './fleet-sim/run.js';

function number(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new RangeError(`${name} must be a number`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      vehicles: { type: 'string' },
      seconds: { type: 'string' },
      'failure-rate': { type: 'string' },
      'deferral-rate': { type: 'string' },
      'poll-ms': { type: 'string' },
      'hardware-id': { type: 'string' },
      'first-index': { type: 'string' },
      group: { type: 'string' },
      'fleet-token': { type: 'string' },
      json: { type: 'boolean', default: false },
      'until-reported': { type: 'boolean', default: false },
    },
  });
  if (!values.server || !values.token) {
    throw new RangeError('--server URL and --token ENROLL_TOKEN are required');
  }
  const url = new URL(values.server);
  const d = defaultFleetSimConfig;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const config: FleetSimConfig = {
    serverUrl: url.origin,
    enrollToken: values.token,
    vehicles: number(values.vehicles, d.vehicles, '--vehicles'),
    seconds: number(values.seconds, d.seconds, '--seconds'),
    failureRate: number(values['failure-rate'], d.failureRate, '--failure-rate'),
    deferralRate: number(values['deferral-rate'], d.deferralRate, '--deferral-rate'),
    pollMs: number(values['poll-ms'], d.pollMs, '--poll-ms'),
    hardwareId: values['hardware-id'] ?? d.hardwareId,
    firstIndex: number(values['first-index'], d.firstIndex, '--first-index'),
    random: Math.random,
    signal: controller.signal,
    untilReported: values['until-reported'],
  };
  const summary = await runFleetSim(config, async (fleet) => {
    process.stderr.write(`[fleet:sim] ${fleet.length} vehicles enrolled\n`);
    if (values.group === undefined || values['fleet-token'] === undefined) return;
    const res = await fetch(`${config.serverUrl}/api/v1/fleet/groups`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${values['fleet-token']}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        name: values.group,
        definition: { kind: 'static', vehicles: fleet.map((v) => v.vinCommitment) },
      }),
    });
    const body = (await res.json()) as { id?: number };
    if (res.status !== 201) throw new Error(`group: HTTP ${res.status} ${JSON.stringify(body)}`);
    process.stderr.write(`[fleet:sim] group ${values.group} is id ${body.id}\n`);
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const errors = Object.values(summary.errors).reduce((a, b) => a + b, 0);
  process.stdout.write(
    [
      '| vehicles | seconds | polls | assignments seen | succeeded | failed | deferrals | errors |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${summary.vehicles} | ${summary.seconds} | ${summary.polls} | ${summary.assignmentsSeen} | ${summary.succeeded} | ${summary.failed} | ${summary.deferrals} | ${errors} |`,
      ...Object.entries(summary.errors).map(([m, n]) => `- ${n} × ${m}`),
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`[fleet:sim] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
});
