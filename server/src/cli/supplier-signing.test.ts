import { Metadata, TargetFile } from '@tufjs/models';
import { createKeySigner, generateKeyPair, signMetadata, type Signer } from '@tufchain/keys';
import { describe, expect, it } from 'vitest';
import { buildTargets, buildTopDelegations } from '../tuf/layout.js';
import { buildRoot } from '../tuf/metadata.js';
import {
  loadSupplierFile,
  SUPPLIER_SIGNING_FORMAT,
  supplierSigningStatus,
  supplierStatusText,
  type SupplierSigningFile,
} from './supplier-signing.js';

const signer = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
const expires = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function firmware(path: string, byte: string, hardwareIds: string[]): TargetFile {
  return new TargetFile({
    path,
    length: 3,
    hashes: { sha256: byte.repeat(32) },
    unrecognizedFields: {
      custom: {
        kind: 'firmware',
        hardwareIds,
        version: '1.0.0',
        releaseCounter: 1,
        attestation: `${path}.sigstore.json`,
      },
    },
  });
}

/** Root -> top-level targets (server layout v2: supplier-acme for acme-brake, then bins) -> supplier-acme. */
async function fixture() {
  const oem = signer();
  const acme = [signer(), signer(), signer()];
  const stranger = signer();
  const root = new Metadata(
    buildRoot({
      version: 1,
      expires,
      roles: {
        root: { keys: [oem], threshold: 1 },
        targets: { keys: [oem], threshold: 1 },
        snapshot: { keys: [oem], threshold: 1 },
        timestamp: { keys: [oem], threshold: 1 },
      },
    }),
  );
  const delegator = buildTargets({
    version: 3,
    expires,
    targets: {},
    delegations: buildTopDelegations({
      binsKeys: [oem],
      suppliers: [{ id: 'acme', hardwareIds: ['acme-brake'], keys: acme, threshold: 2 }],
    }),
  });
  await signMetadata(delegator, oem);
  const previous = buildTargets({
    version: 1,
    expires,
    targets: { 'acme-brake/a.bin': firmware('acme-brake/a.bin', 'aa', ['acme-brake']) },
  });
  await signMetadata(previous, acme[0]!);
  await signMetadata(previous, acme[1]!);
  const targets = buildTargets({
    version: 2,
    expires,
    targets: {
      ...previous.signed.targets,
      'acme-brake/b.bin': firmware('acme-brake/b.bin', 'bb', ['acme-brake']),
    },
  });
  const doc = (): SupplierSigningFile =>
    JSON.parse(
      JSON.stringify({
        format: SUPPLIER_SIGNING_FORMAT,
        server: 'http://127.0.0.1:1',
        supplier: 'acme',
        root: root.toJSON(),
        delegator: delegator.toJSON(),
        previous: previous.toJSON(),
        targets: targets.toJSON(),
      }),
    ) as SupplierSigningFile;
  return { oem, acme, stranger, root, delegator, previous, targets, doc };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;
type Wire = { signed: Record<string, unknown> & { targets: Record<string, unknown> } };

/** Adds a target to the new version (not re-signed). */
const withTarget = (f: Fixture, t: TargetFile) => {
  f.targets.signed.targets[t.path] = t;
  return Promise.resolve(f.doc());
};

describe('supplierSigningStatus', () => {
  it("checks root -> targets -> supplier role and counts the supplier's signatures", async () => {
    const f = await fixture();
    await signMetadata(f.targets, f.acme[0]!);
    const one = supplierSigningStatus(loadSupplierFile(f.doc()), f.root);
    expect(one).toMatchObject({
      role: 'supplier-acme',
      hardwareIds: ['acme-brake'],
      version: 2,
      previousVersion: 1,
      threshold: 2,
      signed: [f.acme[0]!.keyId],
      complete: false,
    });
    expect(one.added.map((a) => a.path)).toEqual(['acme-brake/b.bin']);
    expect(supplierStatusText(one, 'acme-v2.json')).toContain(
      '1 of 2 required signatures\n    not yet signed: ',
    );
    await signMetadata(f.targets, f.acme[2]!);
    const two = supplierSigningStatus(loadSupplierFile(f.doc()));
    expect(two.complete).toBe(true);
    expect(two.missing).toEqual([f.acme[1]!.keyId]);
    expect(supplierStatusText(two, 'acme-v2.json')).toContain(
      'complete: upload with `tufchain supplier publish acme acme-v2.json`',
    );
  });

  it('accepts a first release (no previous version)', async () => {
    const f = await fixture();
    const st = supplierSigningStatus(loadSupplierFile({ ...f.doc(), previous: null }));
    expect(st.previousVersion).toBeNull();
    expect(st.added).toHaveLength(2);
  });

  describe('when the file steps outside the delegation or was tampered with', () => {
    it.each([
      {
        desc: 'firmware claiming a hardware ID the supplier does not own',
        tamper: (f: Fixture) =>
          withTarget(f, firmware('acme-brake/evil.bin', 'ee', ['acme-brake', 'oem-gateway'])),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
      },
      {
        desc: "a target under another hardware ID's path",
        tamper: (f: Fixture) =>
          withTarget(f, firmware('oem-gateway/evil.bin', 'ee', ['acme-brake'])),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
      },
      {
        desc: 'a flat target name (resolved through the bins, not the supplier)',
        tamper: (f: Fixture) => withTarget(f, firmware('evil.bin', 'ee', ['acme-brake'])),
        wantCode: 'HARDWARE_ID_NOT_DELEGATED',
      },
      {
        desc: 'a signature by a key the delegation does not name',
        tamper: async (f: Fixture) => {
          await signMetadata(f.targets, f.stranger);
          return f.doc();
        },
        wantCode: 'SIGNATURE_INVALID',
      },
      {
        desc: 'a released target silently replaced',
        tamper: (f: Fixture) => withTarget(f, firmware('acme-brake/a.bin', 'cc', ['acme-brake'])),
        wantCode: 'TARGETS_CHANGED',
      },
      {
        desc: 'a previous version below the supplier threshold',
        tamper: (f: Fixture) => {
          f.previous.signatures = {};
          return Promise.resolve(f.doc());
        },
        wantCode: 'PREVIOUS_TARGETS_INVALID',
      },
      {
        desc: 'a version that does not follow the previous one',
        tamper: (f: Fixture) => {
          const doc = f.doc();
          (doc.targets as Wire).signed.version = 1;
          return Promise.resolve(doc);
        },
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
      {
        desc: 'a top-level targets not signed by the root (a forged delegation)',
        tamper: (f: Fixture) => {
          f.delegator.signatures = {};
          return Promise.resolve(f.doc());
        },
        wantCode: 'DELEGATION_INVALID',
      },
      {
        desc: 'a supplier the top-level targets does not delegate',
        tamper: (f: Fixture) => Promise.resolve({ ...f.doc(), supplier: 'bolt' }),
        wantCode: 'SUPPLIER_NOT_FOUND',
      },
      {
        desc: 'a root other than the trusted one',
        tamper: (f: Fixture) => {
          const doc = f.doc();
          const other = f.stranger;
          doc.root = new Metadata(
            buildRoot({
              version: 1,
              expires,
              roles: {
                root: { keys: [other], threshold: 1 },
                targets: { keys: [f.oem], threshold: 1 },
                snapshot: { keys: [other], threshold: 1 },
                timestamp: { keys: [other], threshold: 1 },
              },
            }),
          ).toJSON();
          return Promise.resolve(doc);
        },
        wantCode: 'ROOT_NOT_TRUSTED',
      },
      {
        desc: 'a supplier role that delegates further',
        tamper: (f: Fixture) => {
          const doc = f.doc();
          (doc.targets as Wire).signed.delegations = {
            keys: {},
            roles: [{ name: 'sub', keyids: [], threshold: 1, terminating: true, paths: ['*'] }],
          };
          return Promise.resolve(doc);
        },
        wantCode: 'DELEGATION_INVALID',
      },
      {
        desc: 'another format',
        tamper: (f: Fixture) =>
          Promise.resolve({
            ...f.doc(),
            format: 'tufchain/targets-signing/v1',
          } as unknown as SupplierSigningFile),
        wantCode: 'MALFORMED_SIGNING_FILE',
      },
    ])('$desc -> $wantCode', async ({ tamper, wantCode }) => {
      const f = await fixture();
      const doc = await tamper(f);
      expect(() => supplierSigningStatus(loadSupplierFile(doc), f.root)).toThrow(
        expect.objectContaining({ code: wantCode }),
      );
    });
  });
});
