// The deltas a release signed offline lists itself, in a flat repository (POST /api/v1/deltas).
import { TargetFile, type Targets } from '@tufjs/models';
import type { ApiClient } from './api-client.js';
import { CliError } from './error.js';
import type { ReleaseDelta } from './release-view.js';
import { usesBins } from '../tuf/layout.js';
import { targetAt } from '../tuf/metadata.js';

/** An image the metadata being prepared adds, as the server makes its deltas from it. */
export interface StagedImage {
  name: string;
  sha256: string;
  hardwareIds: string[];
  releaseCounter: number;
}

interface DeltasAnswer {
  images: {
    name: string;
    sha256: string;
    deltas: {
      path: string;
      length: number;
      hashes: { sha256: string; sha512: string };
      custom: Record<string, unknown>;
    }[];
    links: { target: string; baseSha256: string; baseVersion: string }[];
  }[];
}

/**
 * True when no role the server signs can list a delta to an image of this repository: the
 * top-level targets (signed offline) delegates to no online bins. Otherwise the server's bins list
 * the deltas after the upload, and the offline metadata stays as it is.
 */
export function signersListDeltas(top: Targets): boolean {
  return !usesBins(top);
}

/**
 * Asks the server for the deltas to `images` (it stores their blobs) and adds them to `targets`,
 * each image's `custom.deltas` linking them, as an online release lists them; returns what they
 * save, for the output. `targets` holds the images already.
 */
export async function addOfflineDeltas(
  api: ApiClient,
  targets: Record<string, TargetFile>,
  images: StagedImage[],
): Promise<ReleaseDelta[]> {
  if (images.length === 0) return [];
  const { body } = await api.json<DeltasAnswer>('POST', '/api/v1/deltas', { body: { images } });
  const out: ReleaseDelta[] = [];
  for (const answer of body.images) {
    const image = targets[answer.name];
    if (!image || image.hashes.sha256 !== answer.sha256) {
      throw new CliError('UNEXPECTED_RESPONSE', `the server answered deltas for ${answer.name}`);
    }
    for (const d of answer.deltas) {
      if (targetAt(targets, d.path)) {
        throw new CliError('DUPLICATE_TARGET', `${d.path} is already in the targets metadata`);
      }
      targets[d.path] = new TargetFile({
        path: d.path,
        length: d.length,
        hashes: d.hashes,
        unrecognizedFields: { custom: d.custom as never },
      });
      const base = d.custom['base'] as { version?: unknown; sha256?: unknown } | undefined;
      out.push({
        image: answer.name,
        imageLength: image.length,
        target: d.path,
        length: d.length,
        baseVersion: typeof base?.version === 'string' ? base.version : '',
        baseSha256: typeof base?.sha256 === 'string' ? base.sha256 : '',
      });
    }
    if (answer.links.length > 0) {
      targets[answer.name] = new TargetFile({
        path: image.path,
        length: image.length,
        hashes: image.hashes,
        unrecognizedFields: {
          ...image.unrecognizedFields,
          custom: { ...image.custom, deltas: answer.links },
        },
      });
    }
  }
  return out;
}
