import { ServerError } from '../error.js';
import type { NewMetadataRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import { errorText } from './error-text.js';
import { expiryAfter } from './expiry.js';
import { BINS_ROLE, supplierDelegations, usesBins } from './layout.js';
import { parseMetadata } from './metadata.js';
import { onlineDeltaRoles } from './online-deltas.js';
import { publishAsRelease, type PublishResult } from './releases.js';
import { buildInitialBins } from './repository.js';
import { sha256Hex } from './signer.js';
import { assertFresh, checkUploadedTargets, replayedUpload } from './uploaded-targets.js';

/**
 * Accepts top-level targets signed offline by a threshold of the root's targets keys
 * (`PUT /api/v1/metadata/targets`), verified against the trusted root, and publishes it as a
 * release. Delegating to bins for the first time creates every hashed bin with the online key.
 */
export function acceptSignedTargets(
  core: RepositoryCore,
  bytes: Uint8Array,
): Promise<PublishResult> {
  return core.lock.run(async () => {
    const replay = await replayedUpload(core, 'targets', bytes);
    if (replay) return replay;
    const md = parseMetadata('targets', bytes);
    const rootMd = await core.state.trustedRoot();
    try {
      rootMd.verifyDelegate('targets', md);
    } catch (error) {
      throw new ServerError(
        'METADATA_SIGNATURE_INVALID',
        `targets metadata is not signed by a threshold of targets keys: ${errorText(error)}`,
        { cause: error },
      );
    }
    const current = await core.state.currentTargets();
    assertFresh(
      core,
      md,
      Math.max(current.signed.version, await core.store.maxVersion('targets')),
      'targets',
    );
    supplierDelegations(md.signed);
    const { firmware, added, images } = await checkUploadedTargets(
      core,
      md,
      current.signed.targets,
      undefined,
    );
    const roles: NewMetadataRecord[] = [
      {
        role: 'targets',
        version: md.signed.version,
        bytes,
        sha256: sha256Hex(bytes),
        expires: md.signed.expires,
      },
    ];
    if (usesBins(md.signed) && !(await core.store.currentMetadataDigest(BINS_ROLE))) {
      roles.push(
        ...(await buildInitialBins({
          top: md.signed,
          signers: core.keys.binsSigners(),
          bitLength: core.config.binBits,
          expires: expiryAfter(core.clock(), core.config.expiries.targets),
        })),
      );
    } else if (usesBins(md.signed)) {
      core.keys.forBins(md.signed);
    }
    // The deltas to the images go into the online bins, in the same snapshot.
    roles.push(...(await onlineDeltaRoles(core, md.signed, images, roles)));
    return publishAsRelease(core, {
      roles,
      root: rootMd.signed,
      firmware,
      targetNames: added,
    });
  });
}
