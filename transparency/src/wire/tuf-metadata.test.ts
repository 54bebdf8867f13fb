import { Metadata, MetadataKind, type Targets } from '@tufjs/models';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTargetsMetadata } from './tuf-metadata.js';

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
/** Target paths, including names that are special to JavaScript objects. */
const path = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', '0', '17', 'acme-brake/fw.bin'),
);
const target = fc.record(
  {
    length: fc.nat(),
    hashes: fc.record({ sha256: hex(64) }, { requiredKeys: [] }).map((h) => ({
      ...h,
      sha512: 'ab'.repeat(64),
    })),
    custom: fc.jsonValue(),
  },
  { requiredKeys: ['length', 'hashes'] },
);
const key = fc.record({
  keytype: fc.constant('ed25519'),
  scheme: fc.constant('ed25519'),
  keyval: fc.record({ public: hex(64) }),
});
const delegations = fc.record({
  keys: fc.dictionary(hex(64), key, { maxKeys: 2 }),
  // Role names are unique in valid metadata (@tufjs/models refuses a duplicate).
  roles: fc.uniqueArray(
    fc.record({
      name: fc.stringMatching(/^[a-z]{1,8}$/),
      keyids: fc.array(hex(64), { maxLength: 2 }),
      threshold: fc.integer({ min: 1, max: 3 }),
      terminating: fc.boolean(),
      paths: fc.array(fc.constantFrom('*', '*/*', 'acme/*'), { maxLength: 2 }),
    }),
    { maxLength: 2, selector: (role) => role.name },
  ),
});

/** Valid targets metadata as it arrives: JSON text parsed, so every key is an own property. */
const validTargets = fc
  .record(
    {
      version: fc.integer({ min: 1, max: 1_000_000 }),
      expires: fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')),
      targets: fc.array(fc.tuple(path, target), { maxLength: 12 }),
      delegations: delegations,
      extra: fc.dictionary(fc.stringMatching(/^x-[a-z]{1,6}$/), fc.jsonValue(), { maxKeys: 2 }),
      signatures: fc.array(fc.record({ keyid: hex(64), sig: hex(128) }), { maxLength: 3 }),
    },
    { requiredKeys: ['version', 'expires', 'targets', 'signatures'] },
  )
  .map(
    (m) =>
      JSON.parse(
        JSON.stringify({
          signatures: m.signatures,
          signed: {
            _type: 'targets',
            spec_version: '1.0.31',
            version: m.version,
            expires: m.expires,
            targets: Object.fromEntries(m.targets),
            ...(m.delegations ? { delegations: m.delegations } : {}),
            ...m.extra,
          },
        }),
      ) as Record<string, unknown>,
  );

/** Every place in a JSON value, as the keys that lead there. */
function placesOf(value: unknown, at: string[] = []): string[][] {
  const out = [at];
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) out.push(...placesOf(v, [...at, k]));
  }
  return out;
}

/** Replaces (or, with `undefined`, removes) the value at `place`; returns a new JSON value. */
function mutate(json: unknown, place: string[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(json)) as unknown;
  if (place.length === 0) return value;
  let parent = copy as Record<string, unknown>;
  for (const k of place.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
  const last = place.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    Object.defineProperty(parent, last, { value, enumerable: true, writable: true });
  }
  return JSON.parse(JSON.stringify(copy)) as unknown;
}

// The one deliberate difference from @tufjs/models: TUF 1.0 makes `targets` an object, and an
// array is refused rather than read as a map keyed by index.
const targetsIsArray = (json: unknown): boolean =>
  Array.isArray((json as { signed?: { targets?: unknown } } | null)?.signed?.targets);

function expectSameAsModels(
  ours: { md: Metadata<Targets>; asReceived: Metadata<Targets> },
  json: unknown,
) {
  const reference = Metadata.fromJSON(MetadataKind.Targets, json as never);
  expect(ours.md.signed.equals(reference.signed)).toBe(true);
  expect(ours.md.signed.toJSON()).toEqual(reference.signed.toJSON());
  expect(ours.md.signatures).toEqual(reference.signatures);
  expect(ours.md.unrecognizedFields).toEqual(reference.unrecognizedFields);
  expect(ours.asReceived.signed.toJSON()).toEqual((json as { signed: unknown }).signed);
}

describe('parseTargetsMetadata', () => {
  it('parses valid targets metadata exactly as @tufjs/models does, signatures and all', () => {
    fc.assert(
      fc.property(validTargets, (json) => {
        expectSameAsModels(parseTargetsMetadata(json), json);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts what @tufjs/models accepts, identically, and refuses the rest with METADATA_MALFORMED', () => {
    const damaged = validTargets.chain((json) =>
      fc
        .tuple(
          fc.constantFrom(...placesOf(json)),
          fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 })),
        )
        .map(([place, value]) => mutate(json, place, value)),
    );
    fc.assert(
      fc.property(fc.oneof(damaged, fc.jsonValue({ maxDepth: 3 })), (json) => {
        let accepted = true;
        try {
          Metadata.fromJSON(MetadataKind.Targets, json as never);
        } catch {
          accepted = false;
        }
        if (accepted && !targetsIsArray(json)) {
          expectSameAsModels(parseTargetsMetadata(json), json);
        } else {
          expect(() => parseTargetsMetadata(json)).toThrow(
            expect.objectContaining({ code: 'METADATA_MALFORMED' }),
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a targets array, which @tufjs/models takes for a map keyed "0", "1", …', () => {
    for (const targets of [[], [{ length: 1, hashes: { sha256: '00' } }]]) {
      const json = {
        signatures: [],
        signed: {
          _type: 'targets',
          spec_version: '1.0.31',
          version: 1,
          expires: '2030-01-01T00:00:00Z',
          targets,
        },
      };
      expect(() => Metadata.fromJSON(MetadataKind.Targets, json as never)).not.toThrow();
      expect(() => parseTargetsMetadata(json)).toThrow(
        expect.objectContaining({ code: 'METADATA_MALFORMED' }),
      );
    }
  });

  it('keeps a target named __proto__ as a target', () => {
    const json = JSON.parse(
      '{"signatures":[],"signed":{"_type":"targets","spec_version":"1.0.31","version":1,' +
        '"expires":"2030-01-01T00:00:00Z","targets":{"__proto__":{"length":1,"hashes":{"sha256":"00"}}}}}',
    ) as unknown;
    const { md } = parseTargetsMetadata(json);
    expect(Object.keys(md.signed.targets)).toEqual(['__proto__']);
    expectSameAsModels(parseTargetsMetadata(json), json);
  });
});
