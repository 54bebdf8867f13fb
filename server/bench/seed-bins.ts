import { createHash } from 'node:crypto';
import { TargetFile } from '@tufjs/models';
import type { RepositoryCore } from '../src/tuf/core/repository-core.js';
import { expiryAfter } from '../src/tuf/expiry.js';
import { buildTargets } from '../src/tuf/layout.js';
import { recordOf } from '../src/tuf/metadata.js';
import { signMetadata, type TufSigner } from '../src/tuf/signer.js';
import type { NewMetadataRecord } from '../src/storage/store.js';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * Benchmark seeding only: `releases` releases (image + Sigstore bundle, two targets each) in the
 * server's exact target format go straight into their bins, signed with the bins key and
 * published in one logged snapshot through the server's own publish pipeline and lock. It skips
 * the uploads and attestation checks a release gets; no route reaches it. Returns the number of
 * bins written.
 */
export async function seedBins(
  core: RepositoryCore,
  binsKey: TufSigner,
  releases: number,
): Promise<number> {
  const bins = (await core.state.roleMetadata('bins'))!.signed.delegations!.succinctRoles!;
  const byBin = new Map<string, Record<string, TargetFile>>();
  for (let i = 0; i < releases; i++) {
    const h = sha256(`t${i}`);
    const image = `fw-${i}.bin`;
    const bundle = `${image}.sigstore.json`;
    for (const [path, file] of [
      [
        image,
        new TargetFile({
          path: image,
          length: 1_000_000 + i,
          hashes: { sha256: h, sha512: h + h },
          unrecognizedFields: {
            custom: {
              kind: 'firmware',
              hardwareIds: [`hw-${i % 97}`],
              version: '1.0.0',
              releaseCounter: i + 1,
              attestation: bundle,
            },
          },
        }),
      ],
      [
        bundle,
        new TargetFile({
          path: bundle,
          length: 3000,
          hashes: { sha256: sha256(`b${i}`), sha512: sha256(`b${i}`) + h },
          unrecognizedFields: { custom: { kind: 'attestation', subject: image } },
        }),
      ],
    ] as const) {
      const bin = bins.getRoleForTarget(path);
      const entries = byBin.get(bin) ?? {};
      entries[path] = file;
      byBin.set(bin, entries);
    }
  }
  const seeded: NewMetadataRecord[] = [];
  const binExpires = expiryAfter(new Date(), 90 * 86400);
  for (const [bin, targets] of byBin) {
    const current = (await core.state.roleMetadata(bin))!;
    const md = buildTargets({
      version: current.signed.version + 1,
      expires: binExpires,
      targets: { ...current.signed.targets, ...targets },
    });
    await signMetadata(md, [binsKey]);
    seeded.push(recordOf(bin, md));
  }
  await core.lock.run(async () =>
    core.pipeline.publish({
      roles: seeded,
      root: (await core.state.trustedRoot()).signed,
      firmware: [],
      releaseId: null,
      batch: 'seed',
    }),
  );
  return seeded.length;
}
