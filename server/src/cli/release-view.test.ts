import { describe, expect, it } from 'vitest';
import { releaseText, type ReleaseView } from './release-view.js';

const release: ReleaseView = {
  id: 7,
  status: 'confirmed',
  targets: ['gw-2.0.0.img'],
  metadataVersion: 12,
  metadataHash: '0x' + 'a'.repeat(64),
  chain: null,
  revocation: null,
  error: null,
  createdAt: '2026-12-06T00:00:00Z',
  updatedAt: '2026-12-06T00:00:00Z',
};

describe('releaseText', () => {
  describe('when the server lists deltas for the release', () => {
    it('prints each one with its base version, its size and its share of the image', () => {
      const text = releaseText({
        ...release,
        deltas: [
          {
            image: 'gw-2.0.0.img',
            imageLength: 3 * 1024 * 1024,
            target: 'gw-2.0.0.img.from-bbbbbbbbbbbbbbbb.delta',
            length: 12_595,
            baseVersion: '1.0.0',
            baseSha256: 'b'.repeat(64),
          },
          {
            image: 'gw-2.0.0.img',
            imageLength: 3 * 1024 * 1024,
            target: 'gw-2.0.0.img.from-cccccccccccccccc.delta',
            length: 900,
            baseVersion: '',
            baseSha256: 'c'.repeat(64),
          },
        ],
      });
      expect(text.split('\n').slice(2)).toEqual([
        '  deltas (what a vehicle on the base version downloads instead of the image):',
        '    gw-2.0.0.img from 1.0.0: 12.3 KiB (0.4% of 3.0 MiB)',
        '    gw-2.0.0.img from cccccccccccccccc: 900 B (0.0% of 3.0 MiB)',
      ]);
    });
  });

  describe('when it lists none', () => {
    it('says so, and prints nothing about deltas for a server that does not list them', () => {
      expect(releaseText({ ...release, deltas: [] })).toContain('deltas: none');
      expect(releaseText(release)).not.toContain('delta');
    });
  });
});
