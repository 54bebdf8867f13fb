import { Metadata, MetadataKind, TargetFile } from '@tufjs/models';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeSigner } from '../../test/support/fixtures.js';
import { buildTargets, buildTopDelegations } from './layout.js';
import { parseMetadata } from './metadata.js';
import { serializeMetadata, signedJson, signMetadata } from './signer.js';

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const entry = fc.record({
  path: fc.stringMatching(/^[a-z0-9]{1,6}(\/[a-z0-9]{1,6})?\.bin$/),
  length: fc.nat(),
  sha256: hex(64),
  counter: fc.nat(),
});

describe('the linear targets (de)serialization', () => {
  it('produces exactly what @tufjs/models toJSON/fromJSON produce, delegations and custom fields included', async () => {
    const signer = makeSigner();
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 40 }),
        fc.boolean(),
        async (entries, delegate) => {
          const targets: Record<string, TargetFile> = {};
          for (const e of entries) {
            targets[e.path] = new TargetFile({
              path: e.path,
              length: e.length,
              hashes: { sha256: e.sha256 },
              unrecognizedFields: {
                custom: { kind: 'firmware', releaseCounter: e.counter },
              },
            });
          }
          const md = buildTargets({
            version: 3,
            expires: '2030-01-01T00:00:00Z',
            targets,
            delegations: delegate
              ? buildTopDelegations({ binsKeys: [signer], suppliers: [] })
              : undefined,
          });
          await signMetadata(md, [signer]);
          expect(signedJson(md)).toEqual(md.signed.toJSON());
          const bytes = serializeMetadata(md);
          expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify(md.toJSON()));
          const parsed = parseMetadata('targets', bytes);
          const reference = Metadata.fromJSON(
            MetadataKind.Targets,
            JSON.parse(new TextDecoder().decode(bytes)) as never,
          );
          expect(parsed.signed.equals(reference.signed)).toBe(true);
          expect(parsed.signatures).toEqual(reference.signatures);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('still refuses malformed targets with METADATA_MALFORMED', () => {
    const bad = (targets: unknown) =>
      new TextEncoder().encode(
        JSON.stringify({
          signatures: [],
          signed: {
            _type: 'targets',
            spec_version: '1.0.31',
            version: 1,
            expires: '2030-01-01T00:00:00Z',
            targets,
          },
        }),
      );
    expect(() => parseMetadata('targets', bad([]))).toThrow(
      expect.objectContaining({ code: 'METADATA_MALFORMED' }),
    );
    expect(() => parseMetadata('targets', bad({ 'a.bin': { length: -1, hashes: {} } }))).toThrow(
      expect.objectContaining({ code: 'METADATA_MALFORMED' }),
    );
  });
});
