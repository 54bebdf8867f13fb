/**
 * `npm run demo`: the whole tufchain path on embedded defaults (anvil, SQLite, files under a
 * temporary data dir), firmware v1 then v2, then the attack the on-chain log exists to stop;
 * then a vehicle of three ECUs (Uptane Director, primary, a full and a partial secondary) updating
 * together, and a compromised Director key refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario } from './scenario.js';
import { runVehicleAct } from './vehicle-act.js';

const ACTOR_WIDTH = 8;

async function main(): Promise<number> {
  const keep = process.env.TUFCHAIN_DATA_DIR;
  const dataDir = keep ?? (await mkdtemp(join(tmpdir(), 'tufchain-demo-')));
  const started = Date.now();
  const narrate = (actor: string, message: string): void => {
    const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
    console.log(`${t}s  ${actor.padEnd(ACTOR_WIDTH)} ${message}`);
  };
  console.log(`tufchain demo — data dir ${dataDir}\n`);
  try {
    const result = await runScenario({ dataDir, narrate });
    const failures: string[] = [];
    if (result.updates.some((u) => u.status !== 'UPDATED'))
      failures.push('an update did not install');
    if (result.audit.findings.length > 0) failures.push('the auditor reported findings');
    if (result.attack.refusedWith !== 'METADATA_NOT_LOGGED')
      failures.push('the unlogged release was not refused');
    if (result.attack.activeDigestBefore !== result.attack.activeDigestAfter)
      failures.push('the active slot changed');

    console.log(
      '\n— a vehicle of three ECUs: Uptane Director, primary, a full and a partial secondary —\n',
    );
    const act = await runVehicleAct({ dataDir: join(dataDir, 'vehicle-act'), narrate });
    if (act.run.status !== 'UPDATED' || act.ecus.some((e) => e.after !== e.assigned))
      failures.push('the three ECUs did not all switch to their assigned images');
    if (act.assignment.statusAfter !== 'completed')
      failures.push('the Director assignment did not complete');
    if (act.audit.findings.length > 0)
      failures.push('the auditor reported findings on the vehicle');
    if (act.attack.refusedWith !== 'DIRECTOR_NOT_LOGGED')
      failures.push('the unlogged Director metadata was not refused');
    if (JSON.stringify(act.attack.after) !== JSON.stringify(act.attack.before))
      failures.push("an ECU's active slot changed under the rogue Director");
    console.log('');
    if (failures.length > 0) {
      console.log(`FAILED: ${failures.join('; ')}`);
      return 1;
    }
    console.log(
      'OK: v1 and v2 installed only after TUF and the chain agreed; the unlogged release signed with the real keys was refused and slot contents never changed.',
    );
    console.log(
      'OK: the primary and its two secondaries switched together to the images the Director assigned; Director metadata signed with the stolen Director keys but never logged was refused and no ECU changed slots.',
    );
    return 0;
  } finally {
    if (keep) console.log(`state kept in ${dataDir} (keys, chain, server, vehicle)`);
    else await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
