import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { createVehicleCsr } from '@tufchain/keys';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csrNamesVin } from './csr-subject.js';

const VIN_ALPHABET = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function csrWith(names: Record<string, string[]>[], san?: string): Promise<string> {
  const keys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: names,
    keys,
    signingAlgorithm: P256,
    extensions: san
      ? [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: san }])]
      : [],
  });
  return csr.toString('pem');
}

describe('csrNamesVin', () => {
  it.each([
    { desc: 'a VIN as the common name', names: [{ CN: ['WVWZZZ1JZXW000123'] }], want: true },
    { desc: 'a lower-case VIN', names: [{ CN: ['wvwzzz1jzxw000123'] }], want: true },
    {
      desc: 'a VIN inside an organizational unit',
      names: [{ CN: ['a'.repeat(64)] }, { OU: ['car WVWZZZ1JZXW000123 line 4'] }],
      want: true,
    },
    {
      desc: 'a commitment and an ECU serial',
      names: [{ CN: ['f'.repeat(64)] }, { '2.5.4.5': ['GW-0042'] }],
      want: false,
    },
    {
      desc: '17 characters with an I (not a VIN)',
      names: [{ CN: ['WVWZZZ1JZXW00I123'] }],
      want: false,
    },
    { desc: '18 alphanumerics in a row', names: [{ CN: ['WVWZZZ1JZXW0001234'] }], want: false },
  ])('is $want for $desc', async ({ names, want }) => {
    expect(csrNamesVin(await csrWith(names))).toBe(want);
  });

  it('finds a VIN in a requested DNS name', async () => {
    expect(
      csrNamesVin(await csrWith([{ CN: ['a'.repeat(64)] }], 'WVWZZZ1JZXW000123.cars.example')),
    ).toBe(true);
  });

  it('is false for what does not parse (the CSR check reports that)', () => {
    expect(
      csrNamesVin('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'),
    ).toBe(false);
  });

  it('never flags a CSR made by createVehicleCsr from a commitment', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^[0-9a-f]{64}$/),
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,15}$/),
        async (vinCommitment, ecuSerial) => {
          expect(csrNamesVin(await createVehicleCsr(key, { vinCommitment, ecuSerial }))).toBe(
            false,
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('always flags a VIN placed anywhere in the subject', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...VIN_ALPHABET), { minLength: 17, maxLength: 17 }),
        fc.constantFrom('CN', 'OU', 'O', 'L'),
        async (chars, attribute) => {
          const vin = chars.join('');
          expect(csrNamesVin(await csrWith([{ [attribute]: [`id ${vin}`] }]))).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });
});
