import { Metadata, TargetFile, Targets, type Root } from '@tufjs/models';
import { createKeySigner, generateKeyPair, signMetadata, type Signer } from '@tufchain/keys';
import { describe, expect, it } from 'vitest';
import { buildRoot } from '../tuf/metadata.js';
import {
  diffTargets,
  loadSigningFile,
  TARGETS_SIGNING_FORMAT,
  targetsSigningStatus,
  type TargetsSigningFile,
} from './targets-signing.js';

const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
const expires = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const file = (path: string, byte: string) =>
  new TargetFile({ path, length: 3, hashes: { sha256: byte.repeat(32) } });

function rootOf(holders: Signer[], online: Signer): Root {
  return buildRoot({
    version: 1,
    expires,
    roles: {
      root: { keys: [online], threshold: 1 },
      targets: { keys: holders, threshold: 2 },
      snapshot: { keys: [online], threshold: 1 },
      timestamp: { keys: [online], threshold: 1 },
    },
  });
}

async function fixture() {
  const holders = [signer(), signer(), signer()];
  const online = signer();
  const stranger = signer();
  const root = new Metadata(rootOf(holders, online));
  const previous = new Metadata(
    new Targets({
      version: 4,
      specVersion: '1.0.31',
      expires,
      targets: { 'ecu-0.9.0.bin': file('ecu-0.9.0.bin', 'bb') },
    }),
  );
  await signMetadata(previous, holders[0]!);
  await signMetadata(previous, holders[1]!);
  const targets = new Metadata(
    new Targets({
      version: 5,
      specVersion: '1.0.31',
      expires,
      targets: { ...previous.signed.targets, 'ecu-1.0.0.bin': file('ecu-1.0.0.bin', 'aa') },
    }),
  );
  const doc = (): TargetsSigningFile =>
    JSON.parse(
      JSON.stringify({
        format: TARGETS_SIGNING_FORMAT,
        server: 'http://127.0.0.1:1',
        root: root.toJSON(),
        previous: previous.toJSON(),
        targets: targets.toJSON(),
      }),
    ) as TargetsSigningFile;
  return { holders, online, stranger, root, previous, targets, doc };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

describe('targetsSigningStatus', () => {
  it('shows the additions computed from the file and counts holder signatures', async () => {
    const f = await fixture();
    await signMetadata(f.targets, f.holders[0]!);
    const one = targetsSigningStatus(loadSigningFile(f.doc()), f.root);
    expect(one).toMatchObject({ version: 5, previousVersion: 4, threshold: 2, complete: false });
    expect(one.added.map((a) => a.path)).toEqual(['ecu-1.0.0.bin']);
    expect(one.removed).toEqual([]);
    await signMetadata(f.targets, f.holders[2]!);
    const two = targetsSigningStatus(loadSigningFile(f.doc()));
    expect(two.complete).toBe(true);
    expect(two.missing).toEqual([f.holders[1]!.keyId]);
    expect(two.payloadSha256).toBe(one.payloadSha256);
  });

  describe('when the signing file was tampered with', () => {
    it.each([
      {
        desc: 'a signature by a key the root does not authorize for targets',
        tamper: async (f: Fixture) => {
          await signMetadata(f.targets, f.stranger);
          return f.doc();
        },
        wantCode: 'SIGNATURE_INVALID',
      },
      {
        desc: 'the signed body changed after a holder signed',
        tamper: async (f: Fixture) => {
          await signMetadata(f.targets, f.holders[0]!);
          const doc = f.doc() as unknown as { targets: { signed: { expires: string } } };
          doc.targets.signed.expires = '2099-01-01T00:00:00Z';
          return doc as unknown as TargetsSigningFile;
        },
        wantCode: 'SIGNATURE_INVALID',
      },
      {
        desc: 'a released target silently replaced',
        tamper: (f: Fixture) => {
          f.targets.signed.targets['ecu-0.9.0.bin'] = file('ecu-0.9.0.bin', 'cc');
          return Promise.resolve(f.doc());
        },
        wantCode: 'TARGETS_CHANGED',
      },
      {
        desc: 'previous targets not signed by a threshold of targets keys',
        tamper: (f: Fixture) => {
          f.previous.signatures = {};
          return Promise.resolve(f.doc());
        },
        wantCode: 'PREVIOUS_TARGETS_INVALID',
      },
      {
        desc: 'a root other than the trusted one (an attacker authorizing its own keys)',
        tamper: (f: Fixture) => {
          const doc = f.doc();
          doc.root = new Metadata(rootOf([f.stranger, f.holders[0]!], f.stranger)).toJSON();
          return Promise.resolve(doc);
        },
        wantCode: 'ROOT_NOT_TRUSTED',
      },
      {
        desc: 'a version that does not follow the previous one',
        tamper: (f: Fixture) => {
          const doc = f.doc() as unknown as { targets: { signed: { version: number } } };
          doc.targets.signed.version = 4;
          return Promise.resolve(doc as unknown as TargetsSigningFile);
        },
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
      {
        desc: 'no previous targets for a version other than 1 (hiding what it changes)',
        tamper: (f: Fixture) => Promise.resolve({ ...f.doc(), previous: null }),
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
      {
        desc: 'another format',
        tamper: (f: Fixture) =>
          Promise.resolve({
            ...f.doc(),
            format: 'tufchain/other',
          } as unknown as TargetsSigningFile),
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
    ])('$desc -> $wantCode', async ({ tamper, wantCode }) => {
      const f = await fixture();
      const doc = await tamper(f);
      expect(() => targetsSigningStatus(loadSigningFile(doc), f.root)).toThrow(
        expect.objectContaining({ code: wantCode }),
      );
    });
  });
});

describe('diffTargets', () => {
  it('shows a new target named like an Object.prototype member as added', () => {
    const targetsOf = (version: number, paths: string[]) =>
      new Metadata(
        new Targets({
          version,
          specVersion: '1.0.31',
          expires,
          targets: Object.fromEntries(paths.map((p) => [p, file(p, 'cc')])),
        }),
      );
    const previous = targetsOf(1, ['ecu-0.9.0.bin']);
    const next = targetsOf(2, ['ecu-0.9.0.bin', 'constructor', 'toString']);
    const { added, removed } = diffTargets(previous, next);
    expect(added.map((a) => a.path)).toEqual(['constructor', 'toString']);
    expect(removed).toEqual([]);
  });
});
