import { createKeySigner, generateKeyPair, type Signer } from '@tufchain/keys';
import { describe, expect, it } from 'vitest';
import { computeEcuCommitment } from '../wire/director.js';
import { signEnvelope } from '../wire/uptane-envelope.js';
import {
  auditDirector,
  inventoryAt,
  type DirectorInstall,
  type DirectorInventoryVersion,
  type DirectorServedVersion,
  type LoggedDirectorTargets,
} from './director.js';
import type { AuditFinding } from './source.js';

const hex = (c: string) => c.repeat(64);
const VEHICLE = hex('a');
const IMAGE = { name: 'brake-b7/brk-2.4.0.bin', sha256: hex('b') };
const OTHER = { name: 'info-1.0.0.bin', sha256: hex('c') };
const SALT = Buffer.alloc(32, 7);
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);

function entry(ecu: { ecu?: string; ecuSerial?: string }): LoggedDirectorTargets {
  return {
    type: 'director-targets',
    vehicle: VEHICLE,
    targetsVersion: 3,
    targetsHash: hex('d'),
    correlationId: null,
    images: [{ ...ecu, hardwareId: 'brake-b7', ...IMAGE, releaseCounter: 12 }],
  };
}

const served: DirectorServedVersion[] = [
  { vehicle: VEHICLE, version: 3, sha256: hex('d'), logIndex: 5 },
];
const director = { targetsVersion: 3, targetsHash: hex('d'), correlationId: null };

function install(over: Partial<DirectorInstall> = {}): DirectorInstall {
  return {
    subject: 'attestation:0',
    vehicle: VEHICLE,
    certificateEcuSerial: 'GW-1',
    ecuSerial: 'GW-1',
    ...IMAGE,
    result: 'SUCCESS',
    finishedAt: '2026-12-01T00:00:00Z',
    director,
    ...over,
  };
}

function run(input: Partial<Parameters<typeof auditDirector>[0]>): string[] {
  const findings: AuditFinding[] = [];
  auditDirector({
    served,
    logged: new Map([[5, entry({ ecu: computeEcuCommitment('GW-1', SALT) })]]),
    installs: [],
    vehicles: undefined,
    report: (f) => findings.push(f),
    ...input,
  });
  return findings.map((f) => f.code);
}

describe('auditDirector', () => {
  it('finds nothing when the install matches its logged assignment by name and sha256', () => {
    expect(run({ installs: [install()] })).toEqual([]);
  });

  it('opens the ECU commitment with the salt of the opening', () => {
    const vehicles = new Map([
      [VEHICLE, { versions: [{ ...director, logIndex: 5, ecuSalt: SALT.toString('hex') }] }],
    ]);
    expect(run({ installs: [install()], vehicles })).toEqual([]);
    // The same image on another ECU is not what was assigned.
    expect(
      run({ installs: [install({ ecuSerial: 'GW-2', certificateEcuSerial: 'GW-2' })], vehicles }),
    ).toEqual(['INSTALL_NOT_ASSIGNED']);
  });

  it('matches the ECU serial of an entry written before commitments', () => {
    const logged = new Map([[5, entry({ ecuSerial: 'GW-1' })]]);
    expect(run({ logged, installs: [install()] })).toEqual([]);
    expect(
      run({ logged, installs: [install({ ecuSerial: 'GW-9', certificateEcuSerial: 'GW-9' })] }),
    ).toEqual(['INSTALL_NOT_ASSIGNED']);
  });

  const attacks: {
    desc: string;
    input: Partial<Parameters<typeof auditDirector>[0]>;
    wantCode: string;
  }[] = [
    {
      desc: 'a served version whose log index holds another version',
      input: { served: [{ ...served[0]!, version: 4 }] },
      wantCode: 'DIRECTOR_TARGETS_NOT_LOGGED',
    },
    {
      desc: 'a served version without a log index',
      input: { served: [{ ...served[0]!, logIndex: null }] },
      wantCode: 'DIRECTOR_TARGETS_NOT_LOGGED',
    },
    {
      desc: 'an install for a targets hash the log does not hold',
      input: { installs: [install({ director: { ...director, targetsHash: hex('e') } })] },
      wantCode: 'DIRECTOR_ASSIGNMENT_NOT_LOGGED',
    },
    {
      desc: 'an install of an image the entry does not assign',
      input: { installs: [install(OTHER)] },
      wantCode: 'INSTALL_NOT_ASSIGNED',
    },
  ];

  it.each(attacks)('reports $desc as $wantCode', ({ input, wantCode }) => {
    expect(run(input)).toEqual([wantCode]);
  });

  it('runs no log check without a replayed log, and says so', () => {
    const findings: AuditFinding[] = [];
    const summary = auditDirector({
      served: [{ ...served[0]!, logIndex: null }],
      logged: undefined,
      installs: [install(OTHER)],
      vehicles: undefined,
      report: (f) => findings.push(f),
    });
    expect(findings).toEqual([]);
    expect(summary.logChecked).toBe(false);
    expect(summary.ecuMatch).toBe('name-and-sha256');
  });

  describe("a secondary's install result", () => {
    const brake = ed();
    const info = ed();
    const inventory: DirectorInventoryVersion[] = [
      {
        version: 1,
        createdAt: '2026-11-01T00:00:00Z',
        registration: {
          primary_ecu_serial: 'GW-1',
          ecus: [
            { ecu_serial: 'GW-1', hardware_identifier: 'gw', clientKey: ed().publicKey as never },
            {
              ecu_serial: 'BRK-1',
              hardware_identifier: 'brake-b7',
              clientKey: brake.publicKey as never,
            },
            {
              ecu_serial: 'INF-1',
              hardware_identifier: 'info',
              clientKey: info.publicKey as never,
            },
          ],
        },
      },
    ];
    const result = (signer: Signer) =>
      signEnvelope(
        {
          ecu_serial: 'BRK-1',
          correlation_id: null,
          target: { filepath: IMAGE.name, fileinfo: { hashes: { sha256: IMAGE.sha256 } } },
          result: 'SUCCESS',
        },
        [signer],
      );
    const logged = new Map([[5, entry({ ecuSerial: 'BRK-1' })]]);
    const vehicles = new Map([[VEHICLE, { inventory }]]);

    it('is verified against the key that ECU registered', async () => {
      const installs = [install({ ecuSerial: 'BRK-1', ecuResult: await result(brake) })];
      expect(run({ logged, installs, vehicles })).toEqual([]);
    });

    it.each([
      { desc: "signed by another ECU's key", make: () => result(info) },
      { desc: 'missing', make: () => Promise.resolve(undefined) },
    ])('is ECU_REPORT_UNSIGNED_BY_ECU when $desc', async ({ make }) => {
      const ecuResult = await make();
      const installs = [install({ ecuSerial: 'BRK-1', ...(ecuResult ? { ecuResult } : {}) })];
      expect(run({ logged, installs, vehicles })).toEqual(['ECU_REPORT_UNSIGNED_BY_ECU']);
    });
  });
});

describe('inventoryAt', () => {
  const v = (version: number, createdAt: string) =>
    ({ version, createdAt, registration: { version } }) as unknown as DirectorInventoryVersion;

  it('takes the newest version made no later than the time, else the first', () => {
    const history = [v(1, '2026-01-01T00:00:00Z'), v(2, '2026-06-01T00:00:00Z')];
    expect(inventoryAt(history, '2026-03-01T00:00:00Z')).toEqual({ version: 1 });
    expect(inventoryAt(history, '2026-07-01T00:00:00Z')).toEqual({ version: 2 });
    expect(inventoryAt(history, '2025-01-01T00:00:00Z')).toEqual({ version: 1 });
  });
});
