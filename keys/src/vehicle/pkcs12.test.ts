import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, runOpenssl, tempDir } from '../../test/helpers.js';
import {
  createVehicleCa,
  createVehicleIdentity,
  type VehicleCa,
  type VehicleIdentity,
} from './ca.js';
import { createPkcs12Bundle, readPkcs12Bundle } from './pkcs12.js';

let ca: VehicleCa;
let identity: VehicleIdentity;
let p12: Uint8Array;

beforeAll(async () => {
  ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
  identity = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'GW-7' });
  p12 = createPkcs12Bundle(identity, ca.certificatePem, 'factory line 3');
});

const sameKey = (a: ReturnType<typeof createPrivateKey>, b: ReturnType<typeof createPrivateKey>) =>
  a.export({ type: 'pkcs8', format: 'der' }).equals(b.export({ type: 'pkcs8', format: 'der' }));

describe('createPkcs12Bundle', () => {
  it('round-trips the vehicle key, its certificate and the CA certificate', () => {
    const back = readPkcs12Bundle(p12, 'factory line 3');
    expect(sameKey(back.privateKey, identity.privateKey)).toBe(true);
    expect(
      new X509Certificate(back.certificatePem).raw.equals(
        new X509Certificate(identity.certificatePem).raw,
      ),
    ).toBe(true);
    expect(back.caCertificatePems).toHaveLength(1);
    expect(
      new X509Certificate(back.caCertificatePems[0] ?? '').raw.equals(
        new X509Certificate(ca.certificatePem).raw,
      ),
    ).toBe(true);
  });

  it.runIf(openssl)('writes a PFX that `openssl pkcs12 -info` reads with the password', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'vehicle.p12');
      writeFileSync(path, p12);
      const out = runOpenssl([
        'pkcs12',
        '-in',
        path,
        '-info',
        '-nodes',
        '-passin',
        'pass:factory line 3',
      ]);
      expect(out).toMatch(/MAC: sha256/);
      expect(out).toMatch(/Shrouded Keybag: PBES2/);
      expect(out).toContain(`friendlyName: vehicle GW-7`);
      const keyPem =
        /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(out)?.[0] ?? '';
      expect(sameKey(createPrivateKey(keyPem), identity.privateKey)).toBe(true);
      expect(out.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
      expect(() =>
        runOpenssl(['pkcs12', '-in', path, '-info', '-nodes', '-passin', 'pass:wrong']),
      ).toThrow();
    } finally {
      cleanup();
    }
  });

  it("throws KEY_MISMATCH when the certificate is not the key's", async () => {
    const other = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'GW-8' });
    expect(() =>
      createPkcs12Bundle(
        { ...identity, certificatePem: other.certificatePem },
        ca.certificatePem,
        'pw',
      ),
    ).toThrow(expect.objectContaining({ code: 'KEY_MISMATCH' }));
  });
});

describe('readPkcs12Bundle', () => {
  it.each([
    {
      desc: 'the password is wrong',
      tamper: (b: Uint8Array) => b,
      password: 'factory line 4',
      wantCode: 'WRONG_PASSPHRASE',
    },
    {
      desc: 'the password is empty',
      tamper: (b: Uint8Array) => b,
      password: '',
      wantCode: 'EMPTY_PASSPHRASE',
    },
    {
      desc: 'the bundle is truncated',
      tamper: (b: Uint8Array) => b.slice(0, b.length - 40),
      password: 'factory line 3',
      wantCode: 'MALFORMED_PKCS12',
    },
    {
      desc: 'a certificate byte is flipped (MAC fails)',
      tamper: (b: Uint8Array) => {
        const copy = Uint8Array.from(b);
        copy[200] = (copy[200] ?? 0) ^ 0x01;
        return copy;
      },
      password: 'factory line 3',
      wantCode: 'WRONG_PASSPHRASE',
    },
    {
      desc: 'it is not DER at all',
      tamper: () => new TextEncoder().encode('hello'),
      password: 'factory line 3',
      wantCode: 'MALFORMED_PKCS12',
    },
  ])('throws $wantCode when $desc', ({ tamper, password, wantCode }) => {
    expect(() => readPkcs12Bundle(tamper(p12), password)).toThrow(
      expect.objectContaining({ name: 'KeysError', code: wantCode }),
    );
  });

  it.runIf(openssl).each([
    { desc: 'an unencrypted certificate safe', extra: ['-certpbe', 'NONE'], readable: true },
    { desc: 'the OpenSSL 3 defaults (PBES2 AES-256 certificate safe)', extra: [], readable: true },
    { desc: 'an AES-128 certificate safe', extra: ['-certpbe', 'AES-128-CBC'], readable: true },
    { desc: 'a SHA-512 MAC', extra: ['-macalg', 'sha512'], readable: true },
    {
      desc: 'a legacy 3DES PBE certificate safe',
      extra: ['-certpbe', 'PBE-SHA1-3DES'],
      readable: false,
    },
  ])('reads a PFX that OpenSSL exported with $desc', ({ extra, readable }) => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(
        join(dir, 'key.pem'),
        identity.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      );
      writeFileSync(join(dir, 'cert.pem'), identity.certificatePem);
      writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
      const out = join(dir, 'o.p12');
      const args = [
        '-inkey',
        join(dir, 'key.pem'),
        '-in',
        join(dir, 'cert.pem'),
        '-certfile',
        join(dir, 'ca.pem'),
      ];
      runOpenssl(['pkcs12', '-export', ...args, ...extra, '-passout', 'pass:pw', '-out', out]);
      const read = (password: string) => readPkcs12Bundle(readFileSync(out), password);
      if (!readable) {
        expect(() => read('pw')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PKCS12' }));
        return;
      }
      const back = read('pw');
      expect(sameKey(back.privateKey, identity.privateKey)).toBe(true);
      expect(back.caCertificatePems).toHaveLength(1);
      expect(() => read('wrong')).toThrow(expect.objectContaining({ code: 'WRONG_PASSPHRASE' }));
    } finally {
      cleanup();
    }
  });
});
