import { ServerError } from '../error.js';
import type { NewMetadataRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import { errorText } from './error-text.js';
import { expiryAfter } from './expiry.js';
import { buildTargets, delegationsJsonOf } from './layout.js';
import { parseMetadata, recordOf } from './metadata.js';
import { sha256Hex, signMetadata } from './signer.js';

/**
 * Accepts root N+1 signed by a threshold of root N's keys and of its own keys, then re-signs
 * snapshot and timestamp (and, with online targets keys, targets) under the new root. All in one
 * commit.
 */
export function acceptRoot(core: RepositoryCore, bytes: Uint8Array): Promise<{ version: number }> {
  return core.lock.run(async () => {
    const { state, keys } = core;
    const next = parseMetadata('root', bytes);
    const trusted = await state.trustedRoot();
    if (next.signed.version !== trusted.signed.version + 1) {
      throw new ServerError(
        'ROOT_ROTATION_INVALID',
        `root version must be ${trusted.signed.version + 1}`,
      );
    }
    if (!next.signed.consistentSnapshot) {
      throw new ServerError('ROOT_ROTATION_INVALID', 'consistent_snapshot must stay true');
    }
    if (next.signed.isExpired(core.clock())) {
      throw new ServerError('ROOT_ROTATION_INVALID', 'the new root is already expired');
    }
    for (const [label, verifier] of [
      ['old', trusted],
      ['new', next],
    ] as const) {
      try {
        verifier.verifyDelegate('root', next);
      } catch (error) {
        throw new ServerError(
          'METADATA_SIGNATURE_INVALID',
          `new root lacks a threshold of ${label} root signatures: ${errorText(error)}`,
          { cause: error },
        );
      }
    }
    // Fail before accepting if the server could not keep signing under the new root.
    keys.forRole('snapshot', next.signed);
    keys.forRole('timestamp', next.signed);
    const rootRecord: NewMetadataRecord = {
      role: 'root',
      version: next.signed.version,
      bytes,
      sha256: sha256Hex(bytes),
      expires: next.signed.expires,
    };
    const currentTargets = await state.currentTargets();
    let targetsStillValid = true;
    try {
      next.verifyDelegate('targets', currentTargets);
    } catch {
      targetsStillValid = false;
    }
    const roles: NewMetadataRecord[] = [];
    if (!targetsStillValid) {
      const resigned = buildTargets({
        version: await state.nextVersion('targets', currentTargets.signed.version),
        expires: expiryAfter(core.clock(), core.config.expiries.targets),
        targets: currentTargets.signed.targets,
        delegations: delegationsJsonOf(currentTargets.signed),
      });
      await signMetadata(resigned, keys.forRole('targets', next.signed));
      roles.push(recordOf('targets', resigned));
    }
    await core.pipeline.publish({
      roles,
      root: next.signed,
      rootRecord,
      firmware: [],
      releaseId: null,
      batch: `root:${next.signed.version}`,
    });
    core.logger.info({ rootVersion: next.signed.version }, 'root rotated');
    return { version: next.signed.version };
  });
}
