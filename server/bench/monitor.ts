/**
 * Monitor benchmark (not a test): npm run bench:monitor
 * How long a rogue release takes from its transaction being mined to the monitor's alert at a
 * webhook receiver, over ROUNDS rogue releases on real parts (anvil mining a block a second, the
 * server on loopback, the monitor with a confirmation depth of 2: test/support/monitor-rig.ts).
 * Goal (issue 17): one confirmation depth + 5 s. Prints a markdown table and writes
 * <repo>/bench/results/monitor.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMonitorRig } from '../test/support/monitor-rig.js';

const BLOCK_SECONDS = 1;
const CONFIRMATIONS = 2;
const ROUNDS = Number(process.env.TUFCHAIN_BENCH_ROUNDS ?? 5);
const GOAL_MS = (CONFIRMATIONS * BLOCK_SECONDS + 5) * 1000;

const rig = await startMonitorRig({ blockSeconds: BLOCK_SECONDS, confirmations: CONFIRMATIONS });
const monitor = await rig.open();
const running = monitor.run();
const samples: number[] = [];
try {
  const watcher = rig.chain.reader(1);
  for (let round = 1; round <= ROUNDS; round++) {
    const before = rig.deliveries.length;
    const logged = (await watcher.releases()).length;
    const rogue = new TextEncoder().encode(`rogue firmware ${round} ${Date.now()}`);
    const publishing = rig.publish(`rogue-${round}.bin`, rogue, round + 1);
    // The moment the release is in a block (a reader needs one confirmation: its own block),
    // seen by polling every 25 ms.
    while ((await watcher.releases()).length === logged) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const minedAt = performance.now();
    await publishing;
    const deadline = minedAt + 4 * GOAL_MS;
    while (rig.deliveries.length === before) {
      if (performance.now() > deadline) throw new Error(`no alert for rogue release ${round}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const alert = rig.deliveries[before]!;
    if (alert.alert.kind !== 'UNEXPECTED_RELEASE' || !alert.signatureValid) {
      throw new Error(`round ${round}: unexpected delivery ${JSON.stringify(alert.alert)}`);
    }
    samples.push(alert.at - minedAt);
  }
  watcher.destroy();
} finally {
  await running.stop();
  await rig.close();
}

const sorted = [...samples].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const result = {
  rounds: ROUNDS,
  blockSeconds: BLOCK_SECONDS,
  confirmations: CONFIRMATIONS,
  goalMs: GOAL_MS,
  alertLatencyMs: Math.round(median),
  alertLatencyMinMs: Math.round(sorted[0]!),
  alertLatencyMaxMs: Math.round(sorted.at(-1)!),
  measuredAt: new Date().toISOString(),
};
console.log(`| what | median | range | goal |
|---|---:|---:|---:|
| rogue release mined -> signed webhook alert (${CONFIRMATIONS} confirmations of ${BLOCK_SECONDS} s) | ${result.alertLatencyMs} ms | ${result.alertLatencyMinMs}-${result.alertLatencyMaxMs} ms | ${GOAL_MS} ms |`);
const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
await mkdir(out, { recursive: true });
await writeFile(join(out, 'monitor.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${join(out, 'monitor.json')}`);
