import { Metadata, TargetFile, Targets, type Root } from '@tufjs/models';
import { createKeySigner, generateKeyPair, signMetadata, type Signer } from '@tufchain/keys';
import { describe, expect, it } from 'vitest';
import { buildRoot } from '../tuf/repository.js';
import {
  loadSigningFile,
  TARGETS_SIGNING_FORMAT,
  targetsSigningStatus,
  type TargetsSigningFile,
} from './targets-signing.js';

const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
const expires = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function fixture() {
  const holders = [signer(), signer(), signer()];
  const online = signer();
  const stranger = signer();
  const root: Root = buildRoot({
    version: 1,
    expires,
    roles: {
      root: { keys: [online], threshold: 1 },
      targets: { keys: holders, threshold: 2 },
      snapshot: { keys: [online], threshold: 1 },
      timestamp: { keys: [online], threshold: 1 },
    },
  });
  const targets = new Metadata(
    new Targets({
      version: 2,
      specVersion: '1.0.31',
      expires,
      targets: {
        'ecu-1.0.0.bin': new TargetFile({
          path: 'ecu-1.0.0.bin',
          length: 3,
          hashes: { sha256: 'aa'.repeat(32) },
        }),
      },
    }),
  );
  const file = (md: Metadata<Targets>): TargetsSigningFile => ({
    format: TARGETS_SIGNING_FORMAT,
    server: 'http://127.0.0.1:1',
    added: ['ecu-1.0.0.bin'],
    root: new Metadata(root).toJSON(),
    targets: md.toJSON(),
  });
  return { holders, stranger, targets, file };
}

describe('targetsSigningStatus', () => {
  it('counts valid holder signatures against the root threshold', async () => {
    const { holders, targets, file } = fixture();
    await signMetadata(targets, holders[0]!);
    const one = targetsSigningStatus(loadSigningFile(file(targets)));
    expect(one).toMatchObject({ threshold: 2, signed: [holders[0]!.keyId], complete: false });
    await signMetadata(targets, holders[2]!);
    const two = targetsSigningStatus(loadSigningFile(file(targets)));
    expect(two.complete).toBe(true);
    expect(two.missing).toEqual([holders[1]!.keyId]);
    expect(two.payloadSha256).toBe(one.payloadSha256);
  });

  describe('when the signing file was tampered with', () => {
    it.each([
      {
        desc: 'a signature by a key the root does not authorize for targets',
        tamper: async (f: ReturnType<typeof fixture>) => {
          await signMetadata(f.targets, f.stranger);
          return f.file(f.targets);
        },
        wantCode: 'SIGNATURE_INVALID',
      },
      {
        desc: 'the signed body changed after a holder signed',
        tamper: async (f: ReturnType<typeof fixture>) => {
          await signMetadata(f.targets, f.holders[0]!);
          const doc = f.file(f.targets) as unknown as { targets: { signed: { version: number } } };
          doc.targets.signed.version = 3;
          return doc as unknown as TargetsSigningFile;
        },
        wantCode: 'SIGNATURE_INVALID',
      },
      {
        desc: 'another format',
        tamper: (f: ReturnType<typeof fixture>) =>
          Promise.resolve({
            ...f.file(f.targets),
            format: 'tufchain/other',
          } as unknown as TargetsSigningFile),
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
      {
        desc: 'targets that are not TUF metadata',
        tamper: (f: ReturnType<typeof fixture>) =>
          Promise.resolve({ ...f.file(f.targets), targets: { signed: { _type: 'targets' } } }),
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
    ])('$desc -> $wantCode', async ({ tamper, wantCode }) => {
      const doc = await tamper(fixture());
      const roundTripped = JSON.parse(JSON.stringify(doc)) as unknown;
      expect(() => targetsSigningStatus(loadSigningFile(roundTripped))).toThrow(
        expect.objectContaining({ code: wantCode }),
      );
    });
  });
});
