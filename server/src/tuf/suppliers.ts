import { ServerError } from '../error.js';
import type { NewMetadataRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import { errorText } from './error-text.js';
import { expiryAfter } from './expiry.js';
import {
  buildTargets,
  supplierDelegations,
  supplierRoleName,
  withSupplier,
  type SupplierInput,
} from './layout.js';
import { parseMetadata, recordOf } from './metadata.js';
import { onlineDeltaRoles } from './online-deltas.js';
import { publishAsRelease, type PublishResult } from './releases.js';
import { signMetadata, sha256Hex } from './signer.js';
import { assertFresh, checkUploadedTargets, replayedUpload } from './uploaded-targets.js';

/** Delegates hardware IDs to a supplier's keys (online targets key required). */
export function addSupplier(
  core: RepositoryCore,
  input: SupplierInput,
): Promise<{ role: string; metadataVersion: number }> {
  return core.lock.run(async () => {
    const { state } = core;
    const root = (await state.trustedRoot()).signed;
    const signers = core.keys.forRole('targets', root);
    const top = await state.currentTargets();
    if (input.threshold < 1 || input.keys.length < input.threshold) {
      throw new ServerError('INVALID_REQUEST', 'a supplier needs at least threshold keys');
    }
    const delegations = withSupplier(top.signed, input);
    const next = buildTargets({
      version: await state.nextVersion('targets', top.signed.version),
      expires: expiryAfter(core.clock(), core.config.expiries.targets),
      targets: top.signed.targets,
      delegations,
    });
    supplierDelegations(next.signed);
    await signMetadata(next, signers);
    const { metadataVersion } = await core.pipeline.publish({
      roles: [recordOf('targets', next)],
      root,
      firmware: [],
      releaseId: null,
      batch: `supplier:${input.id}`,
    });
    core.logger.info({ supplier: input.id, hardwareIds: input.hardwareIds }, 'supplier delegated');
    return { role: supplierRoleName(input.id), metadataVersion };
  });
}

/**
 * Accepts a supplier's role metadata, signed offline by a threshold of the supplier's keys as
 * top-level targets delegates them. Every firmware target must be for the supplier's own
 * hardware IDs (its `x-tufchain-hardware-ids`) and under their paths.
 */
export function acceptSupplierMetadata(
  core: RepositoryCore,
  supplierId: string,
  bytes: Uint8Array,
): Promise<PublishResult> {
  return core.lock.run(async () => {
    const { state } = core;
    const role = supplierRoleName(supplierId);
    const replay = await replayedUpload(core, role, bytes);
    if (replay) return replay;
    const top = await state.currentTargets();
    const scope = supplierDelegations(top.signed).find((s) => s.role === role);
    if (!scope) throw new ServerError('SUPPLIER_NOT_FOUND', `targets delegates no ${role}`);
    const md = parseMetadata('targets', bytes);
    try {
      top.verifyDelegate(role, md);
    } catch (error) {
      throw new ServerError(
        'METADATA_SIGNATURE_INVALID',
        `${role} metadata is not signed by a threshold of the supplier's keys: ${errorText(error)}`,
        { cause: error },
      );
    }
    if (md.signed.delegations) {
      throw new ServerError('DELEGATION_INVALID', 'supplier roles may not delegate further');
    }
    const current = await state.roleMetadata(role);
    assertFresh(
      core,
      md,
      Math.max(current?.signed.version ?? 0, await core.store.maxVersion(role)),
      role,
    );
    const { firmware, added, images } = await checkUploadedTargets(
      core,
      md,
      current?.signed.targets ?? {},
      scope,
    );
    const record: NewMetadataRecord = {
      role,
      version: md.signed.version,
      bytes,
      sha256: sha256Hex(bytes),
      expires: md.signed.expires,
    };
    // The deltas to the supplier's images go into the online bins, in the same snapshot.
    const deltaRoles = await onlineDeltaRoles(core, top.signed, images, [record]);
    return publishAsRelease(core, {
      roles: [record, ...deltaRoles],
      root: (await state.trustedRoot()).signed,
      firmware,
      targetNames: added,
    });
  });
}
