import { join } from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fastScrypt, tempDir } from '../../test/helpers.js';
import { generateKeyPair } from '../generate.js';
import { writeEncryptedKeyFile } from '../key-file.js';
import type { KeyType } from '../key-type.js';
import { createFileSigner, createKeySigner, type Signer } from '../signer.js';
import { readCeremonyFile, writeCeremonyFile } from './ceremony-file.js';
import {
  describeRootCeremony,
  finalizeRootCeremony,
  initRootCeremony,
  rotateRootCeremony,
  signRootCeremony,
  type InitRootOptions,
  type RootCeremony,
} from './root-ceremony.js';

const YEAR = 365 * 86_400_000;
const flipFirstByte = (hex: string) =>
  (parseInt(hex.slice(0, 2), 16) ^ 0xff).toString(16).padStart(2, '0') + hex.slice(2);
type Json = Parameters<typeof Metadata.fromJSON>[1];
const signers = (types: KeyType[]) =>
  types.map((t) => createKeySigner(generateKeyPair(t).privateKey));
const online = signers(['ed25519', 'ed25519', 'ed25519']);

function rootOptions(holders: Signer[], threshold: number): InitRootOptions {
  const [targets, snapshot, timestamp] = online as [Signer, Signer, Signer];
  return {
    root: { keys: holders.map((h) => h.publicKey), threshold },
    targets: { keys: [targets.publicKey], threshold: 1 },
    snapshot: { keys: [snapshot.publicKey], threshold: 1 },
    timestamp: { keys: [timestamp.publicKey], threshold: 1 },
    expires: new Date(Date.now() + YEAR),
  };
}

async function signAll(ceremony: unknown, by: Signer[]): Promise<RootCeremony> {
  let current = ceremony as RootCeremony;
  for (const signer of by) current = await signRootCeremony(current, signer);
  return current;
}

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

describe('a 2-of-3 root ceremony', () => {
  const holders = signers(['ed25519', 'ecdsa-p256', 'ed25519']);
  const [alice, bob, carol] = holders as [Signer, Signer, Signer];

  it('moves between holders as a file, each signing on their own machine, and yields a root TUF accepts', async () => {
    const path = join(dir, 'root-ceremony.json');
    await writeCeremonyFile(path, initRootCeremony(rootOptions(holders, 2)));
    // each holder: own encrypted key file, read the ceremony, check what is signed, sign, write back
    for (const holder of [alice, carol]) {
      const status = describeRootCeremony(await readCeremonyFile(path));
      expect(status.version).toBe(1);
      expect(status.payloadSha256).toMatch(/^[0-9a-f]{64}$/);
      await writeCeremonyFile(path, await signRootCeremony(await readCeremonyFile(path), holder));
    }
    const status = describeRootCeremony(await readCeremonyFile(path));
    expect(status.complete).toBe(true);
    expect(status.requirements[0]).toMatchObject({
      label: 'new-root',
      threshold: 2,
      signed: [alice.keyId, carol.keyId],
      missing: [bob.keyId],
    });

    const rootJson = finalizeRootCeremony(await readCeremonyFile(path));
    const root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(JSON.stringify(rootJson)) as Json);
    expect(() => root.verifyDelegate('root', root)).not.toThrow();
    expect(root.signed.version).toBe(1);
    expect(root.signed.roles.root?.threshold).toBe(2);
    expect(root.signed.consistentSnapshot).toBe(true);
  });

  it('works with signers loaded from encrypted key files', async () => {
    const keys = ['ed25519', 'ecdsa-p256'].map((t) => generateKeyPair(t as KeyType).privateKey);
    const fileSigners: Signer[] = [];
    for (const [i, key] of keys.entries()) {
      const path = join(dir, `holder-${i}.key`);
      await writeEncryptedKeyFile(path, key, `holder ${i}`, { scrypt: fastScrypt });
      fileSigners.push(await createFileSigner(path, `holder ${i}`));
    }
    const done = await signAll(initRootCeremony(rootOptions(fileSigners, 2)), fileSigners);
    expect(() => finalizeRootCeremony(done)).not.toThrow();
  });

  it('throws THRESHOLD_NOT_MET below the threshold', async () => {
    const once = await signAll(initRootCeremony(rootOptions(holders, 2)), [bob]);
    expect(describeRootCeremony(once).complete).toBe(false);
    expect(() => finalizeRootCeremony(once)).toThrow(
      expect.objectContaining({ name: 'KeysError', code: 'THRESHOLD_NOT_MET' }),
    );
    expect(() => finalizeRootCeremony(initRootCeremony(rootOptions(holders, 2)))).toThrow(
      expect.objectContaining({ code: 'THRESHOLD_NOT_MET' }),
    );
  });

  describe('when the ceremony goes wrong', () => {
    it.each([
      {
        desc: 'a stranger tries to sign',
        step: (c: RootCeremony) =>
          signRootCeremony(c, createKeySigner(generateKeyPair('ed25519').privateKey)),
        wantCode: 'NOT_A_ROOT_HOLDER',
      },
      {
        desc: 'an online key (targets) tries to sign as a root holder',
        step: (c: RootCeremony) => signRootCeremony(c, online[0] as Signer),
        wantCode: 'NOT_A_ROOT_HOLDER',
      },
      {
        desc: 'a holder signs twice',
        step: (c: RootCeremony) => signRootCeremony(c, alice),
        wantCode: 'ALREADY_SIGNED',
      },
      {
        desc: 'the expiry was changed after the first signature',
        step: (c: RootCeremony) =>
          signRootCeremony(
            {
              ...c,
              root: { ...c.root, signed: { ...c.root.signed, expires: '2099-01-01T00:00:00Z' } },
            },
            bob,
          ),
        wantCode: 'CEREMONY_INVALID_SIGNATURE',
      },
      {
        desc: 'a root key was swapped after the first signature',
        step: (c: RootCeremony) => {
          const evil = createKeySigner(generateKeyPair('ed25519').privateKey);
          const forged = initRootCeremony(rootOptions([alice, evil, carol], 2));
          return signRootCeremony(
            { ...forged, root: { ...forged.root, signatures: c.root.signatures } },
            evil,
          );
        },
        wantCode: 'CEREMONY_INVALID_SIGNATURE',
      },
      {
        desc: 'the signature was garbled',
        step: (c: RootCeremony) =>
          signRootCeremony(
            {
              ...c,
              root: {
                ...c.root,
                signatures: c.root.signatures.map((s) => ({ ...s, sig: flipFirstByte(s.sig) })),
              },
            },
            bob,
          ),
        wantCode: 'CEREMONY_INVALID_SIGNATURE',
      },
      {
        desc: 'the file is not a ceremony',
        step: () => signRootCeremony({ hello: 'world' }, bob),
        wantCode: 'MALFORMED_CEREMONY',
      },
      {
        desc: 'the root inside is not TUF metadata',
        step: (c: RootCeremony) =>
          signRootCeremony({ ...c, root: { signed: { _type: 'targets' }, signatures: [] } }, bob),
        wantCode: 'MALFORMED_CEREMONY',
      },
    ])('throws $wantCode when $desc', async ({ step, wantCode }) => {
      const signedOnce = await signAll(initRootCeremony(rootOptions(holders, 2)), [alice]);
      await expect(step(signedOnce)).rejects.toMatchObject({ name: 'KeysError', code: wantCode });
    });
  });

  it.each([
    {
      desc: 'a threshold above n',
      patch: (o: InitRootOptions) => ({ ...o, root: { ...o.root, threshold: 4 } }),
    },
    {
      desc: 'a zero threshold',
      patch: (o: InitRootOptions) => ({ ...o, root: { ...o.root, threshold: 0 } }),
    },
    {
      desc: 'a duplicated key',
      patch: (o: InitRootOptions) => ({
        ...o,
        root: { keys: [alice.publicKey, alice.publicKey], threshold: 1 },
      }),
    },
    {
      desc: 'an expiry in the past',
      patch: (o: InitRootOptions) => ({ ...o, expires: new Date(Date.now() - 1000) }),
    },
  ])('initRootCeremony throws INVALID_ARGUMENT for $desc', ({ patch }) => {
    expect(() => initRootCeremony(patch(rootOptions(holders, 2)))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('a root rotation from 2-of-3 {A,B,C} to 2-of-3 {C,D,E}', () => {
  const [a, b, c, d, e] = signers([
    'ed25519',
    'ecdsa-p256',
    'ed25519',
    'ecdsa-p256',
    'ed25519',
  ]) as [Signer, Signer, Signer, Signer, Signer];
  let v1: RootCeremony['root'];
  beforeEach(async () => {
    v1 = finalizeRootCeremony(await signAll(initRootCeremony(rootOptions([a, b, c], 2)), [a, b]));
  });
  const rotate = () =>
    rotateRootCeremony(v1, {
      root: { keys: [c, d, e].map((s) => s.publicKey), threshold: 2 },
      expires: new Date(Date.now() + 2 * YEAR),
    });

  it('needs both thresholds and then verifies as a TUF client would: v1 trusts v2, v2 trusts itself', async () => {
    const ceremony = rotate();
    expect(ceremony.requirements.map((r) => r.label)).toEqual(['new-root', 'previous-root']);
    const done = await signAll(ceremony, [a, c, d]);
    const status = describeRootCeremony(done);
    expect(status.requirements.map((r) => r.met)).toEqual([true, true]);
    const v2Json = finalizeRootCeremony(done);
    const trusted = Metadata.fromJSON(MetadataKind.Root, JSON.parse(JSON.stringify(v1)) as Json);
    const v2 = Metadata.fromJSON(MetadataKind.Root, JSON.parse(JSON.stringify(v2Json)) as Json);
    expect(v2.signed.version).toBe(2);
    expect(() => trusted.verifyDelegate('root', v2)).not.toThrow();
    expect(() => v2.verifyDelegate('root', v2)).not.toThrow();
    // roles not rotated keep their keys
    expect(v2.signed.roles.targets?.keyIDs).toEqual(trusted.signed.roles.targets?.keyIDs);
  });

  it.each([
    { desc: 'only the new holders signed', by: () => [d, e], wantCode: 'THRESHOLD_NOT_MET' },
    { desc: 'only the old holders signed', by: () => [a, b], wantCode: 'THRESHOLD_NOT_MET' },
    { desc: 'one old and one new holder signed', by: () => [a, d], wantCode: 'THRESHOLD_NOT_MET' },
  ])('throws $wantCode when $desc', async ({ by, wantCode }) => {
    const partial = await signAll(rotate(), by());
    expect(() => finalizeRootCeremony(partial)).toThrow(
      expect.objectContaining({ code: wantCode }),
    );
  });

  it('rotates an online role key through the same ceremony', async () => {
    const newTargets = createKeySigner(generateKeyPair('ecdsa-p256').privateKey);
    const rotation = rotateRootCeremony(v1, {
      targets: { keys: [newTargets.publicKey], threshold: 1 },
      expires: new Date(Date.now() + YEAR),
    });
    // root holders unchanged: the same two signatures meet both thresholds
    const v2 = finalizeRootCeremony(await signAll(rotation, [a, b]));
    const parsed = Metadata.fromJSON(MetadataKind.Root, JSON.parse(JSON.stringify(v2)) as Json);
    expect(parsed.signed.roles.targets?.keyIDs).toEqual([newTargets.keyId]);
    expect(parsed.signed.roles.root?.keyIDs).toEqual([a.keyId, b.keyId, c.keyId]);
  });

  it('throws MALFORMED_CEREMONY when the new version does not follow the previous one', async () => {
    const ceremony = rotate();
    const bumped = {
      ...ceremony,
      root: { ...ceremony.root, signed: { ...ceremony.root.signed, version: 5 } },
    };
    await expect(signRootCeremony(bumped, c)).rejects.toMatchObject({ code: 'MALFORMED_CEREMONY' });
  });

  it('throws THRESHOLD_NOT_MET when the previous root itself is under-signed', () => {
    const weak = { ...v1, signatures: v1.signatures.slice(0, 1) };
    expect(() => rotateRootCeremony(weak, { expires: new Date(Date.now() + YEAR) })).toThrow(
      expect.objectContaining({ code: 'THRESHOLD_NOT_MET' }),
    );
  });
});
