import { TargetFile, type Root, type Targets } from '@tufjs/models';
import type { FirmwareClaims } from '../attestation/verifier.js';
import { ServerError } from '../error.js';
import type { NewMetadataRecord, ReleaseRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';
import { allInOrder, prepareDeltas, storeBlob } from './deltas.js';
import { expiryAfter } from './expiry.js';
import {
  assertClaimsMatch,
  attestationTargetName,
  refuseRevoked,
  type ReleaseTargetInput,
} from './firmware-target.js';
import {
  buildTargets,
  delegationsJsonOf,
  supplierDelegations,
  supplierFor,
  usesBins,
} from './layout.js';
import { assertLoggable } from '../log/loggable.js';
import { recordOf } from './metadata.js';
import type { ChainReceipt, ReleaseEntry } from './release-log.js';
import { signMetadata } from './signer.js';

export interface PublishResult {
  release: ReleaseRecord;
  targetsVersion: number;
  metadataHash: string;
  chain: ChainReceipt;
}

/**
 * Builds, signs, logs and publishes a release through the API: the images go into the bins their
 * names hash to (or into top-level targets in a flat repository). Call inside the publish lock.
 */
export async function publishRelease(
  core: RepositoryCore,
  inputs: ReleaseTargetInput[],
): Promise<PublishResult> {
  const started = performance.now();
  let ok = false;
  try {
    const result = await buildAndPublish(core, inputs);
    ok = true;
    return result;
  } finally {
    core.metrics?.onPublish?.(performance.now() - started, ok);
  }
}

/**
 * Publishes new targets-role versions as a release: the release record follows the publish
 * (pending -> logged -> confirmed, or failed). Used by API releases and uploaded metadata.
 */
export async function publishAsRelease(
  core: RepositoryCore,
  o: {
    roles: NewMetadataRecord[];
    root: Root;
    firmware: ReleaseEntry['firmware'];
    targetNames: string[];
  },
): Promise<PublishResult> {
  // The log's release entry names every hardware ID in clear; refuse before anything is made.
  assertLoggable({ type: 'release', metadataVersion: 1, metadataHash: '', firmware: o.firmware });
  const release = await core.store.createRelease({
    targetNames: o.targetNames,
    targetsVersion: (await core.store.maxVersion('snapshot')) + 1,
  });
  const { metadataHash, chain, metadataVersion } = await core.pipeline.publish({
    roles: o.roles,
    root: o.root,
    firmware: o.firmware,
    releaseId: release.id,
    batch: `release:${release.id}`,
  });
  return {
    release: (await core.store.release(release.id)) ?? release,
    targetsVersion: metadataVersion,
    metadataHash,
    chain,
  };
}

async function buildAndPublish(
  core: RepositoryCore,
  inputs: ReleaseTargetInput[],
): Promise<PublishResult> {
  const { state, keys, config } = core;
  const root = (await state.trustedRoot()).signed;
  const top = await state.currentTargets();
  const suppliers = supplierDelegations(top.signed);
  const names = new Set<string>();
  for (const t of inputs) {
    for (const n of [t.name, attestationTargetName(t.name)]) {
      if (names.has(n)) throw new ServerError('DUPLICATE_TARGET', `target ${n} appears twice`);
      names.add(n);
      if (supplierFor(n, suppliers)) {
        throw new ServerError(
          'HARDWARE_ID_NOT_DELEGATED',
          `${n} is under a supplier's hardware ID; only that supplier's role can list it`,
        );
      }
      if (await state.findTarget(n)) {
        throw new ServerError(
          'TARGET_ALREADY_RELEASED',
          `target ${n} is already in targets metadata`,
        );
      }
    }
  }
  const additions: TargetFile[] = [];
  const firmware: ReleaseEntry['firmware'] = [];
  for (const t of inputs) {
    const { image, bundle, deltas } = await prepareTarget(core, t);
    additions.push(image, bundle, ...deltas);
    for (const hardwareId of t.hardwareIds) {
      firmware.push({ digest: `0x${image.hashes.sha256!}`, hardwareId, version: t.releaseCounter });
    }
  }
  const expires = expiryAfter(core.clock(), config.expiries.targets);
  const changed: NewMetadataRecord[] = [];
  if (usesBins(top.signed)) {
    changed.push(...(await binRecords(core, top.signed, additions, expires)));
  } else {
    const targets: Record<string, TargetFile> = { ...top.signed.targets };
    for (const a of additions) targets[a.path] = a;
    const next = buildTargets({
      version: await state.nextVersion('targets', top.signed.version),
      expires,
      targets,
      delegations: delegationsJsonOf(top.signed),
    });
    await signMetadata(next, keys.forRole('targets', root));
    changed.push(recordOf('targets', next));
  }
  return publishAsRelease(core, {
    roles: changed,
    root,
    firmware,
    targetNames: inputs.map((t) => t.name),
  });
}

/**
 * New versions of the hashed bins the `additions` hash to, each signed with the online bins key:
 * the targets each bin listed, plus the additions.
 */
export async function binRecords(
  core: RepositoryCore,
  top: Targets,
  additions: readonly TargetFile[],
  expires: string,
): Promise<NewMetadataRecord[]> {
  const { state } = core;
  const signers = core.keys.forBins(top);
  const byBin = new Map<string, TargetFile[]>();
  for (const a of additions) {
    const bin = await state.binFor(a.path);
    if (!bin) throw new ServerError('INTERNAL', 'targets delegates bins but bins.json is missing');
    byBin.set(bin, [...(byBin.get(bin) ?? []), a]);
  }
  const out: NewMetadataRecord[] = [];
  for (const [bin, files] of byBin) {
    const current = await state.roleMetadata(bin);
    const targets: Record<string, TargetFile> = { ...current?.signed.targets };
    for (const f of files) targets[f.path] = f;
    const next = buildTargets({
      version: await state.nextVersion(bin, current?.signed.version ?? 0),
      expires,
      targets,
    });
    await signMetadata(next, signers);
    out.push(recordOf(bin, next));
  }
  return out;
}

/** The image and its Sigstore bundle as targets, after the upload and attestation checks. */
async function prepareTarget(
  core: RepositoryCore,
  t: ReleaseTargetInput,
): Promise<{ image: TargetFile; bundle: TargetFile; deltas: TargetFile[] }> {
  const upload = await core.store.upload(t.name);
  if (!upload) throw new ServerError('FIRMWARE_NOT_UPLOADED', `no firmware uploaded as ${t.name}`);
  // Bytes uploaded under this name before their release elsewhere was revoked.
  await refuseRevoked(core.store, upload.sha256, t.name);
  let claims: FirmwareClaims;
  try {
    claims = await core.verifier.verifyFirmware(t.attestation, {
      name: t.name,
      sha256: upload.sha256,
    });
  } catch (error) {
    if (error instanceof ServerError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new ServerError(
      'FIRMWARE_ATTESTATION_INVALID',
      `attestation for ${t.name} does not verify${typeof code === 'string' ? ` (${code})` : ''}`,
      { cause: error },
    );
  }
  assertClaimsMatch(t, claims);
  const bundleBytes = new TextEncoder().encode(JSON.stringify(t.attestation));
  // The bundle's blob is written (its fsyncs) while the deltas are made.
  const bundleStored = storeBlob(core, bundleBytes);
  const custom: Record<string, unknown> = {
    kind: 'firmware',
    hardwareIds: t.hardwareIds,
    version: t.version,
    releaseCounter: t.releaseCounter,
    attestation: attestationTargetName(t.name),
  };
  if (t.minFromVersion !== undefined) custom.minFromVersion = t.minFromVersion;
  const deltasMade = prepareDeltas(core, { ...t, sha256: upload.sha256 });
  await allInOrder<unknown>([bundleStored, deltasMade]);
  const [bundleBlob, deltas] = [await bundleStored, await deltasMade];
  if (deltas.links.length > 0) custom.deltas = deltas.links;
  const image = new TargetFile({
    path: t.name,
    length: upload.length,
    hashes: { sha256: upload.sha256, sha512: upload.sha512 },
    unrecognizedFields: { custom: custom as never },
  });
  const bundle = new TargetFile({
    path: attestationTargetName(t.name),
    length: bundleBlob.length,
    hashes: { sha256: bundleBlob.sha256, sha512: bundleBlob.sha512 },
    unrecognizedFields: { custom: { kind: 'attestation', subject: t.name } },
  });
  return { image, bundle, deltas: deltas.files };
}
