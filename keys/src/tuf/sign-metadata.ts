import { canonicalize } from '@tufjs/canonical-json';
import {
  Signature,
  type Metadata,
  type Root,
  type Snapshot,
  type Targets,
  type Timestamp,
} from '@tufjs/models';

type MetadataType = Root | Timestamp | Snapshot | Targets;
import type { Signer } from '../signer.js';

/** The bytes TUF signs: canonical JSON of the `signed` part. */
export function canonicalSignedBytes(metadata: Metadata<MetadataType>): Buffer {
  return Buffer.from(canonicalize(metadata.signed.toJSON()));
}

/**
 * Adds `signer`'s signature to TUF metadata (the async counterpart of Metadata.sign, which only takes
 * a synchronous signer). Replaces an earlier signature by the same key; keeps the others unless
 * `append` is false.
 */
export async function signMetadata<T extends MetadataType>(
  metadata: Metadata<T>,
  signer: Signer,
  options: { append?: boolean } = {},
): Promise<Metadata<T>> {
  const sig = await signer.sign(canonicalSignedBytes(metadata));
  if (options.append === false) metadata.signatures = {};
  metadata.signatures[signer.keyId] = new Signature({
    keyID: signer.keyId,
    sig: Buffer.from(sig).toString('hex'),
  });
  return metadata;
}
