import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createVehicleCa, createVehicleIdentity } from '../vehicle/ca.js';
import { parseCertificateParts } from './certificate-der.js';
import { knownP256, rememberSpki, spkiSha256 } from './spki-digest.js';

const exported = (key: ReturnType<typeof generateKeyPairSync>['publicKey']): string =>
  createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');

describe('spkiSha256', () => {
  it('is the digest of the exported SPKI, for P-256 and Ed25519 keys', () => {
    for (const key of [
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey,
      generateKeyPairSync('ed25519').publicKey,
    ])
      expect(spkiSha256(key).toString('hex')).toBe(exported(key));
  });

  it("takes a vehicle certificate's SPKI bytes as they are: the same digest", async () => {
    const ca = await createVehicleCa({ commonName: 'SPKI CA' });
    const vehicle = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'E1' });
    const cert = new X509Certificate(vehicle.certificatePem);
    const key = cert.publicKey;
    const spki = parseCertificateParts(cert.raw).subjectPublicKeyInfo;
    expect(spki.length).toBe(91);
    expect(knownP256(key)).toBe(false);
    expect(rememberSpki(key, spki)).toBe(true);
    expect(knownP256(key)).toBe(true);
    expect(spkiSha256(key).toString('hex')).toBe(exported(key));
  });

  it('ignores an SPKI that is not the form export() writes (here: the point compressed)', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const jwk = key.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    const compressed = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      Buffer.from([2 + (y[31]! & 1)]),
      x,
    ]);
    expect(rememberSpki(key, compressed)).toBe(false);
    expect(knownP256(key)).toBe(false);
    expect(spkiSha256(key).toString('hex')).toBe(exported(key));
  });
});
