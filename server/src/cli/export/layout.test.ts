import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CliError } from '../error.js';
import {
  checkMetadataVersion,
  readSnapshotPin,
  readSnapshotRoles,
  readTargets,
  targetFilePaths,
  versionedMetadataPath,
} from './layout.js';

const bytesOf = (signed: unknown): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ signatures: [], signed }));
const H256 = 'ab'.repeat(32);
const H512 = 'cd'.repeat(64);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof CliError ? error.code : 'NOT_A_CLI_ERROR';
  }
  return undefined;
}

describe('readSnapshotPin', () => {
  it('reads the snapshot version, hash and length a timestamp pins', () => {
    const pin = readSnapshotPin(
      bytesOf({
        _type: 'timestamp',
        version: 7,
        meta: { 'snapshot.json': { version: 5, length: 900, hashes: { sha256: H256 } } },
      }),
    );
    expect(pin).toEqual({ timestampVersion: 7, snapshotVersion: 5, sha256: H256, length: 900 });
  });

  it.each([
    { desc: 'not JSON', bytes: new TextEncoder().encode('{') },
    { desc: 'a snapshot', bytes: bytesOf({ _type: 'snapshot', version: 1, meta: {} }) },
    { desc: 'no snapshot entry', bytes: bytesOf({ _type: 'timestamp', version: 1, meta: {} }) },
    {
      desc: 'version 0',
      bytes: bytesOf({ _type: 'timestamp', version: 1, meta: { 'snapshot.json': { version: 0 } } }),
    },
    {
      desc: 'a malformed hash',
      bytes: bytesOf({
        _type: 'timestamp',
        version: 1,
        meta: { 'snapshot.json': { version: 1, hashes: { sha256: 'zz' } } },
      }),
    },
  ])('throws UNEXPECTED_RESPONSE for $desc', ({ bytes }) => {
    expect(codeOf(() => readSnapshotPin(bytes))).toBe('UNEXPECTED_RESPONSE');
  });
});

describe('readSnapshotRoles', () => {
  it('lists every targets-role file by version', () => {
    const roles = readSnapshotRoles(
      bytesOf({
        _type: 'snapshot',
        version: 3,
        meta: {
          'targets.json': { version: 2 },
          'bins.json': { version: 1 },
          'bins-3f.json': { version: 4 },
        },
      }),
    );
    expect([...roles]).toEqual([
      ['targets', 2],
      ['bins', 1],
      ['bins-3f', 4],
    ]);
  });

  it.each([
    { desc: 'a path outside metadata/', file: '../../etc/passwd.json' },
    { desc: 'a timestamp entry', file: 'timestamp.json' },
    { desc: 'a root entry', file: 'root.json' },
    { desc: 'an upper-case role', file: 'Bins.json' },
    { desc: 'no .json suffix', file: 'bins' },
  ])('throws UNEXPECTED_RESPONSE for $desc', ({ file }) => {
    const bytes = bytesOf({
      _type: 'snapshot',
      version: 1,
      meta: { 'targets.json': { version: 1 }, [file]: { version: 1 } },
    });
    expect(codeOf(() => readSnapshotRoles(bytes))).toBe('UNEXPECTED_RESPONSE');
  });

  it('throws UNEXPECTED_RESPONSE when the snapshot names no targets', () => {
    const bytes = bytesOf({ _type: 'snapshot', version: 1, meta: { 'bins.json': { version: 1 } } });
    expect(codeOf(() => readSnapshotRoles(bytes))).toBe('UNEXPECTED_RESPONSE');
  });
});

describe('checkMetadataVersion', () => {
  it('throws METADATA_MISMATCH when the file is another version or type than what named it', () => {
    const bytes = bytesOf({ _type: 'targets', version: 2 });
    expect(codeOf(() => checkMetadataVersion(bytes, 'targets', 2, 'x'))).toBeUndefined();
    expect(codeOf(() => checkMetadataVersion(bytes, 'targets', 3, 'x'))).toBe('METADATA_MISMATCH');
    expect(codeOf(() => checkMetadataVersion(bytes, 'root', 2, 'x'))).toBe('METADATA_MISMATCH');
  });
});

describe('readTargets', () => {
  it('reads flat and hardware-ID paths with their hashes', () => {
    const targets = readTargets(
      bytesOf({
        _type: 'targets',
        targets: {
          'gw-1.0.0.img': { length: 3, hashes: { sha256: H256, sha512: H512 } },
          'acme-brake/brake-4.2.0.bin': { length: 0, hashes: { sha256: H256 } },
        },
      }),
      'bins-00',
    );
    expect(targets).toEqual([
      { path: 'gw-1.0.0.img', length: 3, sha256: H256, sha512: H512 },
      { path: 'acme-brake/brake-4.2.0.bin', length: 0, sha256: H256 },
    ]);
  });

  it.each([
    { desc: 'a traversal', path: '../escape.img', file: { length: 1, hashes: { sha256: H256 } } },
    { desc: 'two directories', path: 'a/b/c.img', file: { length: 1, hashes: { sha256: H256 } } },
    {
      desc: 'an absolute path',
      path: '/etc/passwd',
      file: { length: 1, hashes: { sha256: H256 } },
    },
    { desc: 'no sha256', path: 'a.img', file: { length: 1, hashes: { sha512: H512 } } },
    {
      desc: 'an upper-case sha256',
      path: 'a.img',
      file: { length: 1, hashes: { sha256: 'AB'.repeat(32) } },
    },
    { desc: 'a negative length', path: 'a.img', file: { length: -1, hashes: { sha256: H256 } } },
    {
      desc: 'a short sha512',
      path: 'a.img',
      file: { length: 1, hashes: { sha256: H256, sha512: H256 } },
    },
  ])('throws UNEXPECTED_RESPONSE for $desc', ({ path, file }) => {
    const bytes = bytesOf({ _type: 'targets', targets: { [path]: file } });
    expect(codeOf(() => readTargets(bytes, 'bins-00'))).toBe('UNEXPECTED_RESPONSE');
  });
});

describe('versionedMetadataPath', () => {
  it('is the server route path without its leading slash', () => {
    expect(versionedMetadataPath('bins-3f', 12)).toBe('metadata/12.bins-3f.json');
  });

  it.each([
    ['timestamp', 1],
    ['bins', 0],
    ['../x', 1],
    ['bins', 1.5],
  ])('throws INVALID_ARGUMENT for %s v%s', (role, version) => {
    expect(codeOf(() => versionedMetadataPath(role, version))).toBe('INVALID_ARGUMENT');
  });
});

describe('targetFilePaths', () => {
  it('names the file by each hash, sha256 first, under the hardware ID directory', () => {
    expect(
      targetFilePaths({ path: 'acme-brake/b.bin', length: 1, sha256: H256, sha512: H512 }),
    ).toEqual([`targets/acme-brake/${H256}.b.bin`, `targets/acme-brake/${H512}.b.bin`]);
    expect(targetFilePaths({ path: 'gw.img', length: 1, sha256: H256 })).toEqual([
      `targets/${H256}.gw.img`,
    ]);
  });

  it('never leaves targets/ for any path readTargets accepts', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,20}$/);
    fc.assert(
      fc.property(fc.option(segment, { nil: undefined }), segment, (dir, name) => {
        const path = dir === undefined ? name : `${dir}/${name}`;
        const bytes = bytesOf({
          _type: 'targets',
          targets: { [path]: { length: 1, hashes: { sha256: H256 } } },
        });
        let accepted;
        try {
          accepted = readTargets(bytes, 'bins-00');
        } catch {
          return; // refused: nothing is written
        }
        for (const target of accepted) {
          for (const p of targetFilePaths(target)) {
            expect(p.startsWith('targets/')).toBe(true);
            expect(p.split('/')).not.toContain('..');
            expect(p.split('/').length).toBeLessThanOrEqual(3);
          }
        }
      }),
    );
  });
});
