import { FulcioSigner, RekorWitness, TSAWitness, type Witness } from '@sigstore/sign';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../generate.js';
import { createKeySigner } from '../signer.js';
import { signFirmwareAttestation, verifyFirmwareAttestation } from './firmware.js';
import {
  createSigstoreWitnesses,
  defaultSigstoreServicesConfig,
  resolveSigstoreServices,
  wrapWithFulcio,
} from './sigstore-services.js';

const input = {
  name: 'gw.bin',
  sha256: 'ab'.repeat(32),
  hardwareIds: ['gw'],
  version: '1.0.0',
  releaseCounter: 1,
};

describe('createSigstoreWitnesses', () => {
  it('adds nothing by default, so signing stays offline', () => {
    expect(defaultSigstoreServicesConfig).toMatchObject({
      rekorUrl: undefined,
      tsaUrl: undefined,
      fulcioUrl: undefined,
    });
    expect(createSigstoreWitnesses()).toEqual([]);
    expect(createSigstoreWitnesses({})).toEqual([]);
  });

  it('creates Rekor and TSA witnesses for configured URLs without contacting them', () => {
    const witnesses = createSigstoreWitnesses({
      rekorUrl: 'https://rekor.oem.example/',
      tsaUrl: 'https://tsa.oem.example',
    });
    expect(witnesses[0]).toBeInstanceOf(RekorWitness);
    expect(witnesses[1]).toBeInstanceOf(TSAWitness);
  });

  it.each([
    { desc: 'a URL that does not parse', config: { rekorUrl: 'not a url' } },
    { desc: 'a non-http URL', config: { tsaUrl: 'file:///etc/passwd' } },
    {
      desc: 'Fulcio without an identity provider',
      config: { fulcioUrl: 'https://fulcio.oem.example' },
    },
  ])('throws INVALID_ARGUMENT for $desc', ({ config }) => {
    expect(() => resolveSigstoreServices(config)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('wrapWithFulcio', () => {
  const keySigner = { sign: () => Promise.reject(new Error('unused')) };
  it('leaves the key signer alone by default', () => {
    expect(wrapWithFulcio(keySigner)).toBe(keySigner);
  });
  it('wraps it in a FulcioSigner when Fulcio is configured', () => {
    const wrapped = wrapWithFulcio(keySigner, {
      fulcioUrl: 'https://fulcio.oem.example',
      identityProvider: { getToken: () => Promise.resolve('t') },
    });
    expect(wrapped).toBeInstanceOf(FulcioSigner);
  });
});

describe('signFirmwareAttestation with witnesses', () => {
  it('hands the signed envelope and public key to every witness', async () => {
    const signer = createKeySigner(generateKeyPair('ecdsa-p256').privateKey);
    const seen: string[] = [];
    // A witness double standing in for a Rekor/TSA service: records what it was asked to testify to.
    const witness: Witness = {
      testify: (content, publicKey) => {
        seen.push(`${content.$case}:${publicKey === signer.publicKeyPem() ? 'key' : 'other'}`);
        return Promise.resolve({});
      },
    };
    const bundle = await signFirmwareAttestation(input, signer, { witnesses: [witness] });
    expect(seen).toEqual(['dsseEnvelope:key']);
    await expect(
      verifyFirmwareAttestation(
        bundle,
        { publicKeyPem: signer.publicKeyPem(), keyId: signer.keyId },
        input,
      ),
    ).resolves.toBeDefined();
  });
});
