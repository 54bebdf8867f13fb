import type { TargetFile } from '@tufjs/models';
import { ServerError } from '../error.js';
import { isValidTargetPath } from '../http/names.js';
import type { RepositoryCore } from './core/repository-core.js';
import { prepareDeltas, type DeltaImage, type DeltaLink } from './deltas.js';
import { refuseRevoked } from './firmware-target.js';

/** The deltas to one image of a pending offline-signed release, for its signers to list. */
export interface OfflineImageDeltas {
  name: string;
  sha256: string;
  /** Delta targets for the same targets metadata as the image (`<name>.from-<16 hex>.delta`). */
  targets: TargetFile[];
  /** For the image's `custom.deltas`. */
  links: DeltaLink[];
}

/**
 * The deltas to the images a release signed offline will add (`POST /api/v1/deltas`), for
 * metadata no role the server signs can list them in: a flat repository whose top-level targets
 * is signed offline. Each delta blob is stored now, content-addressed; the offline signers put the
 * targets and links into the metadata they sign, and the upload checks each against its blob
 * (checkUploadedTargets) like any other target. A delta is made exactly as for an online release
 * (prepareDeltas: same bases, same bytes), so asking twice gives the same answer.
 *
 * Every image is checked before any delta is made: a valid path, not released yet, not revoked,
 * its blob uploaded.
 */
export async function prepareOfflineDeltas(
  core: RepositoryCore,
  images: readonly DeltaImage[],
): Promise<OfflineImageDeltas[]> {
  const names = new Set<string>();
  for (const image of images) {
    if (!isValidTargetPath(image.name)) {
      throw new ServerError(
        'INVALID_NAME',
        `target name ${JSON.stringify(image.name.slice(0, 60))} is not allowed`,
      );
    }
    if (names.has(image.name))
      throw new ServerError('DUPLICATE_TARGET', `${image.name} is listed twice`);
    names.add(image.name);
    if (await core.state.findTarget(image.name)) {
      throw new ServerError(
        'TARGET_ALREADY_RELEASED',
        `${image.name} is released; its deltas were made then`,
      );
    }
    await refuseRevoked(core.store, image.sha256, image.name);
    if (!(await core.store.blobBySha256(image.sha256)) || !(await core.blobs.has(image.sha256))) {
      throw new ServerError(
        'FIRMWARE_NOT_UPLOADED',
        `no uploaded blob has sha256 ${image.sha256} (${image.name}); upload the image first`,
      );
    }
  }
  const out: OfflineImageDeltas[] = [];
  for (const image of images) {
    const { files, links } = await prepareDeltas(core, image);
    out.push({ name: image.name, sha256: image.sha256, targets: files, links });
  }
  return out;
}
