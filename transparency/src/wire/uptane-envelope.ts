import { canonicalize } from '@tufjs/canonical-json';
import { Key } from '@tufjs/models';
import { z } from 'zod';
import { TransparencyError } from '../error.js';

/**
 * A TUF public key as Uptane ECUs register it (`clientKey`): ed25519 (64 hex) or ECDSA P-256 (SPKI
 * PEM), the two key types tufchain signs with.
 */
export const tufPublicKeySchema = z.union([
  z
    .object({
      keytype: z.literal('ed25519'),
      scheme: z.literal('ed25519'),
      keyval: z.object({ public: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    })
    .strict(),
  z
    .object({
      keytype: z.literal('ecdsa'),
      scheme: z.literal('ecdsa-sha2-nistp256'),
      keyval: z
        .object({
          public: z
            .string()
            .max(512)
            .regex(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/),
        })
        .strict(),
    })
    .strict(),
]);
export type UptanePublicKey = z.infer<typeof tufPublicKeySchema>;

const signatureSchema = z
  .object({
    keyid: z.string().regex(/^[0-9a-f]{64}$/),
    sig: z
      .string()
      .regex(/^[0-9a-f]*$/)
      .max(512),
    /** OTA-CE and the Uptane reference implementation name the scheme; it is informative only. */
    method: z.string().max(64).optional(),
  })
  .strict();

/** `{ signatures, signed }` with `signed` checked by `signed`. */
export function envelopeSchema<T extends z.ZodType>(signed: T) {
  return z.object({ signatures: z.array(signatureSchema).min(1).max(8), signed }).strict();
}

export interface SignedEnvelope<T> {
  signatures: { keyid: string; sig: string; method?: string | undefined }[];
  signed: T;
}

/** The one thing an envelope signer must do: sign bytes with a TUF key (keys' `Signer` fits). */
export interface EnvelopeSigner {
  readonly keyId: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** The bytes an envelope's signatures cover: OLPC canonical JSON of `signed`, as TUF signs. */
export function envelopeSignedBytes(signed: unknown): Uint8Array {
  try {
    return new Uint8Array(Buffer.from(canonicalize(signed as never)));
  } catch (err) {
    throw new TransparencyError(
      'MALFORMED_ENVELOPE',
      'signed part is not canonical-JSON encodable',
      {
        cause: err,
      },
    );
  }
}

/** Signs `signed` with each signer (TUF signature encoding: hex of the raw or DER signature). */
export async function signEnvelope<T>(
  signed: T,
  signers: readonly EnvelopeSigner[],
): Promise<SignedEnvelope<T>> {
  const bytes = envelopeSignedBytes(signed);
  const signatures = [];
  for (const s of signers) {
    signatures.push({ keyid: s.keyId, sig: Buffer.from(await s.sign(bytes)).toString('hex') });
  }
  return { signatures, signed };
}

/**
 * Verifies that `envelope` carries a valid signature by `key` (key id `keyId`), with
 * @tufjs/models' own key verification. Throws ENVELOPE_UNSIGNED when no signature by that key
 * id is present, ENVELOPE_SIGNATURE_INVALID when it does not verify.
 */
export function verifyEnvelope(
  envelope: SignedEnvelope<unknown>,
  keyId: string,
  key: { keytype: string; scheme: string; keyval: { public: string } },
): void {
  const signature = envelope.signatures.find((s) => s.keyid === keyId);
  if (!signature) {
    throw new TransparencyError('ENVELOPE_UNSIGNED', `no signature by key ${keyId}`);
  }
  const tufKey = Key.fromJSON(keyId, key);
  const signed = envelope.signed;
  try {
    tufKey.verifySignature({
      signatures: { [keyId]: { keyID: keyId, sig: signature.sig } },
      signed: { toJSON: () => signed },
    } as unknown as Parameters<Key['verifySignature']>[0]);
  } catch (err) {
    throw new TransparencyError(
      'ENVELOPE_SIGNATURE_INVALID',
      `signature by ${keyId} does not verify`,
      {
        cause: err,
      },
    );
  }
}
