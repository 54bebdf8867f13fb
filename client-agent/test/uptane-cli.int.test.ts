/**
 * `tufchain-agent run-once` as a vehicle's primary: settings with a Director section and two
 * secondaries, each a `tufchain-agent secondary` process with its own key, slots and state on a
 * Unix socket; the image repository and the test Director on loopback HTTP; anvil.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runAgentCli, writeVehicleSettings } from './helpers/agent-cli.js';
import { TestChain } from './helpers/chain.js';
import { Fixture } from './helpers/fixture.js';
import { startSecondaryProcess, type SecondaryProcess } from './helpers/secondary-process.js';
import { LOG_ORIGIN, TestDirector } from './helpers/test-director.js';
import { sha512hex } from './helpers/tuf-repo.js';
import { assignment, PRIMARY } from './helpers/vehicle.js';

let chain: TestChain;
let snapshot: string;
let f: Fixture;
let director: TestDirector;
let secondaries: SecondaryProcess[] = [];

beforeAll(async () => {
  chain = await TestChain.start();
});
afterAll(async () => {
  await chain.stop();
});
beforeEach(async () => {
  snapshot = await chain.snapshot();
  f = await Fixture.create();
  director = new TestDirector(f.repo);
  secondaries = [
    await startSecondaryProcess({
      dir: f.dir,
      serial: 'BRK-0042',
      hardwareId: 'brake-b7',
      verification: 'partial',
      directorRoot: director.rootBytes,
    }),
    await startSecondaryProcess({
      dir: f.dir,
      serial: 'IVI-0007',
      hardwareId: 'infotainment-i3',
      verification: 'full',
      directorRoot: director.rootBytes,
      full: {
        imageRoot: f.repo.rootBytes(1),
        rpcUrls: [chain.chain.rpcUrl],
        contractAddress: chain.address,
        chainId: chain.chain.chainId,
        confirmations: 3,
        fromBlock: chain.deployBlock,
        vehicleCommitment: f.identity.vinCommitment,
        logKeys: [director.logKey],
        logOrigin: LOG_ORIGIN,
      },
    }),
  ];
});
afterEach(async () => {
  for (const s of secondaries) await s.stop();
  await f.cleanup();
  await chain.revert(snapshot);
});

async function release(hardwareId: string, version: string, releaseCounter: number) {
  const r = await f.addRelease({
    version,
    releaseCounter,
    hardwareIds: [hardwareId],
    name: `${hardwareId}-${version}.img`,
    size: 48 * 1024,
  });
  await chain.log(r.entry);
  return { ...r, length: r.image.length, sha512: sha512hex(r.image), releaseCounter };
}

describe('tufchain-agent run-once with a director section', () => {
  it('runs the Uptane cycle: the primary and both secondary processes install the set', async () => {
    const gw = await release(PRIMARY.hardwareId, '2.0.0', 2);
    const brake = await release('brake-b7', '2.4.0', 12);
    const ivi = await release('infotainment-i3', '5.0.0', 50);
    const vehicle = director.enroll(f.identity.certificatePem, f.identity.vinCommitment);
    await director.assign(vehicle, [
      assignment(PRIMARY, gw),
      assignment(secondaries[0]!, brake),
      assignment(secondaries[1]!, ivi),
    ]);
    const config = await writeVehicleSettings(f, chain, {
      ecuSerial: PRIMARY.serial,
      hardwareId: PRIMARY.hardwareId,
      directorRoot: director.rootBytes,
      logKeys: [director.logKey],
      logOrigin: LOG_ORIGIN,
      secondaries,
    });

    const run = await runAgentCli(config, ['run-once', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as {
      status: string;
      ecus: { serial: string; outcome: string }[];
    };
    expect(result.status).toBe('UPDATED');
    expect(result.ecus.map((e) => [e.serial, e.outcome])).toEqual([
      [PRIMARY.serial, 'COMMITTED'],
      ['BRK-0042', 'COMMITTED'],
      ['IVI-0007', 'COMMITTED'],
    ]);
    const active = async (s: { readState: typeof f.slots.readState }) => {
      const st = await s.readState();
      return st.slots[st.active]?.sha256;
    };
    expect(await active(f.slots)).toBe(gw.sha256);
    expect(await active(secondaries[0]!.slots)).toBe(brake.sha256);
    expect(await active(secondaries[1]!.slots)).toBe(ivi.sha256);

    const again = await runAgentCli(config, ['run-once', '--json']);
    expect((JSON.parse(again.stdout) as { status: string }).status).toBe('UP_TO_DATE');
  }, 120_000);
});
