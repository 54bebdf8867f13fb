import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import { parseInstallPredicate, type InstallPredicate } from './install.js';
import { parseFirmwarePredicate } from './firmware.js';

const h = (c: string) => c.repeat(64);

function sampleInstallPredicate(): InstallPredicate {
  return {
    vehicle: { commitment: h('a') },
    ecu: { serial: 'ECU-0001', hardwareId: 'ecu-brake-v1' },
    from: { name: 'brake-1.0.0.bin', version: '1.0.0', releaseCounter: 1, digest: h('b') },
    to: { name: 'brake-1.1.0.bin', version: '1.1.0', releaseCounter: 2, digest: h('c') },
    result: 'SUCCESS',
    startedAt: '2026-11-22T01:00:00Z',
    finishedAt: '2026-11-22T01:02:00.000Z',
    odometerKm: 12345.6,
    counter: 3,
    metadata: { targetsVersion: 2, targetsHash: '0x' + h('d') },
    checkpoint: {
      chainId: 31337,
      blockNumber: 42,
      blockHash: '0x' + h('e'),
      timestamp: 1_795_000_000,
    },
  };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

describe('parseInstallPredicate', () => {
  it('accepts a well-formed predicate and a first install with from = null', () => {
    expect(parseInstallPredicate(sampleInstallPredicate())).toEqual(sampleInstallPredicate());
    expect(parseInstallPredicate({ ...sampleInstallPredicate(), from: null }).from).toBeNull();
  });

  const attacks: { desc: string; tamper: (p: Record<string, unknown>) => unknown }[] = [
    { desc: 'not an object', tamper: () => 'install' },
    {
      desc: 'a VIN instead of a commitment',
      tamper: (p) => ({ ...p, vehicle: { commitment: 'WVWZZZ1JZXW000001' } }),
    },
    { desc: 'an unknown result', tamper: (p) => ({ ...p, result: 'MAYBE' }) },
    { desc: 'a negative odometer', tamper: (p) => ({ ...p, odometerKm: -1 }) },
    { desc: 'a fractional counter', tamper: (p) => ({ ...p, counter: 1.5 }) },
    {
      desc: 'a short target digest',
      tamper: (p) => ({ ...p, to: { ...(p.to as object), digest: 'abcd' } }),
    },
    { desc: 'a time that is not ISO 8601', tamper: (p) => ({ ...p, finishedAt: 'yesterday' }) },
    { desc: 'a missing checkpoint', tamper: (p) => ({ ...p, checkpoint: undefined }) },
  ];
  for (const { desc, tamper } of attacks) {
    it(`throws MALFORMED_ATTESTATION for ${desc}`, () => {
      const tampered = tamper(sampleInstallPredicate());
      expect(codeOf(() => parseInstallPredicate(tampered))).toBe('MALFORMED_ATTESTATION');
    });
  }

  describe('the install path (delta or full) an agent may add', () => {
    it('accepts a delta install, a full install that fell back, and none at all', () => {
      const delta = { path: 'delta', networkBytes: 81_920 } as const;
      const fellBack = { path: 'full', fallback: { code: 'DELTA_BASE_MISMATCH' }, networkBytes: 9 };
      expect(
        parseInstallPredicate({ ...sampleInstallPredicate(), install: delta }).install,
      ).toEqual(delta);
      expect(
        parseInstallPredicate({ ...sampleInstallPredicate(), install: fellBack }).install,
      ).toEqual(fellBack);
      expect(parseInstallPredicate(sampleInstallPredicate()).install).toBeUndefined();
    });

    const bad: { desc: string; install: unknown }[] = [
      { desc: 'an unknown path', install: { path: 'patch', networkBytes: 1 } },
      { desc: 'negative network bytes', install: { path: 'full', networkBytes: -1 } },
      { desc: 'fractional network bytes', install: { path: 'delta', networkBytes: 1.5 } },
      { desc: 'missing network bytes', install: { path: 'delta' } },
      {
        desc: 'a delta install that claims a fallback',
        install: { path: 'delta', fallback: { code: 'DELTA_MALFORMED' }, networkBytes: 1 },
      },
      {
        desc: 'a fallback code that is not an error code',
        install: { path: 'full', fallback: { code: 'went wrong' }, networkBytes: 1 },
      },
      {
        desc: 'a fallback carrying free text',
        install: {
          path: 'full',
          fallback: { code: 'DELTA_MALFORMED', message: 'VIN WVWZZZ1JZXW000001' },
          networkBytes: 1,
        },
      },
      { desc: 'an unknown field', install: { path: 'full', networkBytes: 1, extra: true } },
      { desc: 'not an object', install: 'delta' },
    ];
    for (const { desc, install } of bad) {
      it(`throws INSTALL_PATH_MALFORMED for ${desc}`, () => {
        const tampered = { ...sampleInstallPredicate(), install };
        expect(codeOf(() => parseInstallPredicate(tampered))).toBe('INSTALL_PATH_MALFORMED');
      });
    }
  });

  it('never throws anything but MALFORMED_ATTESTATION or INSTALL_PATH_MALFORMED on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const code = codeOf(() => parseInstallPredicate(value));
        expect(['MALFORMED_ATTESTATION', 'INSTALL_PATH_MALFORMED']).toContain(code);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseFirmwarePredicate', () => {
  it('accepts a predicate and rejects one without hardware IDs', () => {
    expect(
      parseFirmwarePredicate({ hardwareIds: ['a'], version: '1.0.0', releaseCounter: 1 })
        .releaseCounter,
    ).toBe(1);
    expect(
      codeOf(() =>
        parseFirmwarePredicate({ hardwareIds: [], version: '1.0.0', releaseCounter: 1 }),
      ),
    ).toBe('MALFORMED_ATTESTATION');
  });
});
