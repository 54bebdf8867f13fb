/**
 * A vehicle of three ECUs through the real stack (test/e2e/vehicle-act.ts): anvil, the server with
 * its Uptane Director on SQLite, the OEM CLI, `tufchain-agent register-ecus` and `run-once` as the
 * primary, two `tufchain-agent secondary` processes (partial and full verification) on Unix
 * sockets. Then a compromised Director key signs metadata the log never saw.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECUS, runVehicleAct, type VehicleActResult } from './vehicle-act.js';

describe('a vehicle with a primary and two secondaries, through the real server and agent processes', () => {
  let dir: string;
  let act: VehicleActResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-director-e2e-'));
    act = await runVehicleAct({ dataDir: join(dir, 'act') });
  }, 240_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers the inventory the primary reads from its settings: itself, one partial and one full secondary', () => {
    expect(act.registration.status).toBe(201);
    expect(act.registration.changed).toBe(true);
    expect(act.registration.ecus).toEqual([
      ECUS.gateway.serial,
      ECUS.brake.serial,
      ECUS.infotainment.serial,
    ]);
  });

  it('installs the three assigned images together: every ECU committed, each now runs its image', () => {
    expect(act.run.status).toBe('UPDATED');
    expect(act.run.director.targetsVersion).toBe(act.assignment.targetsVersion);
    expect(act.run.ecus.map((e) => [e.serial, e.outcome])).toEqual([
      [ECUS.gateway.serial, 'COMMITTED'],
      [ECUS.brake.serial, 'COMMITTED'],
      [ECUS.infotainment.serial, 'COMMITTED'],
    ]);
    for (const ecu of act.ecus) {
      expect(ecu.before, ecu.serial).not.toBe(ecu.assigned);
      expect(ecu.after, ecu.serial).toBe(ecu.assigned);
    }
  });

  it("sends the primary's install report, accepted by the server, and a manifest that completes the assignment", () => {
    expect(act.run.reports?.map((r) => r.ecuSerial)).toEqual([
      ECUS.gateway.serial,
      ECUS.brake.serial,
      ECUS.infotainment.serial,
    ]);
    expect(act.run.reports?.find((r) => r.ecuSerial === ECUS.gateway.serial)?.sent).toBe(true);
    expect(act.run.manifest?.sent).toBe(true);
    expect(act.assignment.statusAfter).toBe('completed');
    expect(act.again.status).toBe('UP_TO_DATE');
  });

  it("the secondaries' install reports, each carrying that ECU's signed result, are accepted too", () => {
    expect(act.run.reports?.map((r) => [r.ecuSerial, r.sent])).toEqual([
      [ECUS.gateway.serial, true],
      [ECUS.brake.serial, true],
      [ECUS.infotainment.serial, true],
    ]);
  });

  it('the auditor verifies every accepted install report from the chain and the server, with no finding', () => {
    expect(act.audit.findings).toEqual([]);
    expect(act.audit.stats.installsVerified).toBe(act.run.reports?.filter((r) => r.sent).length);
    expect(act.audit.stats.installsVerified).toBeGreaterThan(0);
  });

  it('the auditor, with the log and an OEM token, proves every Director targets version logged and every ECU report signed by that ECU', () => {
    expect(act.audit.director).toMatchObject({ logChecked: true, ecuSignaturesChecked: true });
    expect(act.audit.stats.directorVersionsServed).toBeGreaterThanOrEqual(1);
    expect(act.audit.stats.directorVersionsLogged).toBeGreaterThanOrEqual(
      act.audit.stats.directorVersionsServed as number,
    );
    expect(act.audit.stats.directorInstalls).toBe(act.ecus.length);
    expect(act.audit.stats.ecuReportsVerified).toBeGreaterThanOrEqual(2);
    expect(act.audit.stats.installsMatchedWithoutEcu).toBe(0);
  });

  it('refuses Director metadata signed with the stolen Director keys but never logged: DIRECTOR_NOT_LOGGED, no active slot changed', () => {
    expect(act.attack.refusedWith).toBe('DIRECTOR_NOT_LOGGED');
    expect(act.attack.exitCode).not.toBe(0);
    expect(act.attack.after).toEqual(act.attack.before);
    expect(Object.values(act.attack.after)).toEqual(act.ecus.map((e) => e.assigned));
  });
});
