import { createHash, generateKeyPairSync } from 'node:crypto';
import { createKeySigner } from '@tufchain/keys';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransparencyError } from '../error.js';
import {
  computeEcuCommitment,
  ecuRegistrationSchema,
  parseDirectorTargets,
  signedVehicleVersionManifestSchema,
  vehicleVersionManifestSchema,
  type EcuVersionReport,
} from './director.js';
import { signEnvelope, verifyEnvelope } from './uptane-envelope.js';

const hex = (n: number, c = 'a') => c.repeat(n);
const vehicle = hex(64, 'c');

function ecuSigner(type: 'ed25519' | 'ec') {
  const { privateKey } =
    type === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return createKeySigner(privateKey);
}

function report(serial: string, counter = 1): EcuVersionReport {
  return {
    ecu_serial: serial,
    installed_image: {
      filepath: 'brake-b7/brake-2.3.0.bin',
      fileinfo: { length: 1024, hashes: { sha256: hex(64, 'b') } },
    },
    attacks_detected: '',
    report_counter: counter,
    nonce: hex(32, 'd'),
    timeserver_time: '2026-12-04T10:00:00Z',
  };
}

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof TransparencyError ? err.code : 'NOT_A_TRANSPARENCY_ERROR';
  }
  return 'NO_ERROR';
};

describe('Uptane signed envelopes', () => {
  for (const type of ['ed25519', 'ec'] as const) {
    describe(`with an ${type === 'ec' ? 'ECDSA P-256' : 'ed25519'} ECU key`, () => {
      it('verifies a version report the ECU signed', async () => {
        const signer = ecuSigner(type);
        const env = await signEnvelope(report('BRK-0042'), [signer]);
        expect(() => verifyEnvelope(env, signer.keyId, signer.publicKey)).not.toThrow();
      });

      it('throws ENVELOPE_SIGNATURE_INVALID when any signed field changes', async () => {
        const signer = ecuSigner(type);
        const env = await signEnvelope(report('BRK-0042', 5), [signer]);
        const tampered = { ...env, signed: { ...env.signed, report_counter: 6 } };
        expect(codeOf(() => verifyEnvelope(tampered, signer.keyId, signer.publicKey))).toBe(
          'ENVELOPE_SIGNATURE_INVALID',
        );
      });

      it('throws ENVELOPE_SIGNATURE_INVALID for a signature by another key under this key id', async () => {
        const signer = ecuSigner(type);
        const other = ecuSigner(type);
        const env = await signEnvelope(report('BRK-0042'), [other]);
        const relabelled = {
          ...env,
          signatures: env.signatures.map((s) => ({ ...s, keyid: signer.keyId })),
        };
        expect(codeOf(() => verifyEnvelope(relabelled, signer.keyId, signer.publicKey))).toBe(
          'ENVELOPE_SIGNATURE_INVALID',
        );
      });

      it('throws ENVELOPE_UNSIGNED when the key has not signed at all', async () => {
        const signer = ecuSigner(type);
        const other = ecuSigner(type);
        const env = await signEnvelope(report('BRK-0042'), [other]);
        expect(codeOf(() => verifyEnvelope(env, signer.keyId, signer.publicKey))).toBe(
          'ENVELOPE_UNSIGNED',
        );
      });
    });
  }
});

describe('the vehicle version manifest schema', () => {
  it('accepts a manifest of signed ECU reports, OTA-CE field names', async () => {
    const primary = ecuSigner('ec');
    const brake = ecuSigner('ed25519');
    const manifest = {
      vehicle,
      primary_ecu_serial: 'GW-0001',
      ecu_version_manifests: {
        'GW-0001': await signEnvelope(report('GW-0001'), [primary]),
        'BRK-0042': await signEnvelope(report('BRK-0042'), [brake]),
      },
    };
    const signed = await signEnvelope(manifest, [primary]);
    expect(signedVehicleVersionManifestSchema.safeParse(signed).success).toBe(true);
  });

  it('refuses a report filed under another ECU serial than it names', async () => {
    const brake = ecuSigner('ed25519');
    const manifest = {
      vehicle,
      primary_ecu_serial: 'GW-0001',
      ecu_version_manifests: { 'GW-0001': await signEnvelope(report('BRK-0042'), [brake]) },
    };
    expect(vehicleVersionManifestSchema.safeParse(manifest).success).toBe(false);
  });

  it('refuses control characters in any free text the vehicle sends', async () => {
    const brake = ecuSigner('ed25519');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 0x1f }),
        fc.string({ maxLength: 8 }),
        async (cc, rest) => {
          const r = { ...report('BRK-0042'), attacks_detected: rest + String.fromCharCode(cc) };
          const manifest = {
            vehicle,
            primary_ecu_serial: 'BRK-0042',
            ecu_version_manifests: { 'BRK-0042': await signEnvelope(r, [brake]) },
          };
          expect(vehicleVersionManifestSchema.safeParse(manifest).success).toBe(false);
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });
});

describe('the ECU registration schema', () => {
  const key = (s: ReturnType<typeof ecuSigner>) => s.publicKey;
  it('accepts a primary and its secondaries', () => {
    const reg = {
      primary_ecu_serial: 'GW-0001',
      ecus: [
        {
          ecu_serial: 'GW-0001',
          hardware_identifier: 'gateway-x1',
          primary: true,
          clientKey: key(ecuSigner('ec')),
        },
        {
          ecu_serial: 'BRK-0042',
          hardware_identifier: 'brake-b7',
          verification: 'partial',
          clientKey: key(ecuSigner('ed25519')),
        },
      ],
    };
    expect(ecuRegistrationSchema.safeParse(reg).success).toBe(true);
  });

  it.each([
    ['the primary is missing', { primary_ecu_serial: 'GW-0001', ecus: ['BRK-0042'] }],
    ['an ECU is listed twice', { primary_ecu_serial: 'GW-0001', ecus: ['GW-0001', 'GW-0001'] }],
    ['a serial has a slash', { primary_ecu_serial: 'GW/1', ecus: ['GW/1'] }],
  ])('refuses a registration where %s', (_desc, shape) => {
    const k = key(ecuSigner('ed25519'));
    const reg = {
      primary_ecu_serial: shape.primary_ecu_serial,
      ecus: shape.ecus.map((s) => ({ ecu_serial: s, hardware_identifier: 'hw', clientKey: k })),
    };
    expect(ecuRegistrationSchema.safeParse(reg).success).toBe(false);
  });
});

describe('parseDirectorTargets', () => {
  const target = (ecus: Record<string, string>) => ({
    length: 10,
    hashes: { sha256: hex(64, 'e'), sha512: hex(128, 'f') },
    custom: {
      ecuIdentifiers: Object.fromEntries(
        Object.entries(ecus).map(([s, hw]) => [s, { hardwareId: hw }]),
      ),
      releaseCounter: 3,
    },
  });
  const custom = { vehicle, correlationId: 'urn:tufchain:assignment:1', atomic: true };

  it('flattens every target into one assignment per ECU', () => {
    const out = parseDirectorTargets({
      custom,
      targets: {
        'brake-b7/b.bin': target({ 'BRK-1': 'brake-b7', 'BRK-2': 'brake-b7' }),
        'gw.img': target({ 'GW-1': 'gateway-x1' }),
      },
    });
    expect(out.custom).toEqual(custom);
    expect(out.assignments.map((a) => [a.ecuSerial, a.name])).toEqual([
      ['BRK-1', 'brake-b7/b.bin'],
      ['BRK-2', 'brake-b7/b.bin'],
      ['GW-1', 'gw.img'],
    ]);
  });

  it.each([
    ['no vehicle identifier', { targets: {} }],
    [
      'an ECU assigned two images',
      { custom, targets: { a: target({ X: 'h' }), b: target({ X: 'h' }) } },
    ],
    ['a target with no ECU', { custom, targets: { a: target({}) } }],
    ['a path that climbs out', { custom, targets: { '../a': target({ X: 'h' }) } }],
  ])('throws DIRECTOR_METADATA_INVALID for %s', (_desc, signed) => {
    expect(codeOf(() => parseDirectorTargets(signed))).toBe('DIRECTOR_METADATA_INVALID');
  });
});

describe('computeEcuCommitment', () => {
  const salt = new Uint8Array(32).fill(7);

  it('matches SHA-256 over the domain, the salt and the serial', () => {
    const want = createHash('sha256')
      .update(
        Buffer.concat([
          Buffer.from('tufchain/ecu-commitment/v1\0'),
          salt,
          Buffer.from('1HGCM82633A004352'),
        ]),
      )
      .digest('hex');
    expect(computeEcuCommitment('1HGCM82633A004352', salt)).toBe(want);
  });

  it('changes with the salt, so a wrong salt does not open it', () => {
    expect(computeEcuCommitment('ecu-1', salt)).not.toBe(
      computeEcuCommitment('ecu-1', new Uint8Array(32)),
    );
  });

  it('refuses a salt that is not 32 bytes with INVALID_ENTRY', () => {
    expect(() => computeEcuCommitment('ecu-1', new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: 'INVALID_ENTRY' }),
    );
  });
});
