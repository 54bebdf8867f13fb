import {
  AbstractSigner,
  computeAddress,
  copyRequest,
  getAddress,
  getBytes,
  hashMessage,
  hexlify,
  resolveAddress,
  resolveProperties,
  Signature,
  SigningKey,
  Transaction,
  TypedDataEncoder,
  type Provider,
  type TransactionLike,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import type { Secp256k1Signer } from '@tufchain/keys';
import { TransparencyError } from '../error.js';

/**
 * An ethers signer whose key sits behind the `Secp256k1Signer` seam of @tufchain/keys: an
 * encrypted key file or an HSM/KMS. The private key never reaches ethers (nor the environment or
 * a log); every signature the seam returns is checked by recovering the public key from it, so a
 * device or key file that does not hold the configured key fails with SIGNER_KEY_MISMATCH instead
 * of sending transactions from another account.
 */
export class ChainSigner extends AbstractSigner {
  readonly address: string;
  readonly #key: Secp256k1Signer;
  readonly #publicKeyHex: string;

  constructor(key: Secp256k1Signer, provider: Provider | null = null) {
    super(provider);
    this.#key = key;
    this.#publicKeyHex = hexlify(key.publicKey).toLowerCase();
    this.address = computeAddress(this.#publicKeyHex);
    if (getAddress(key.address) !== this.address) {
      throw new TransparencyError(
        'SIGNER_KEY_MISMATCH',
        `the signer claims ${key.address} but its public key is ${this.address}`,
      );
    }
  }

  getAddress(): Promise<string> {
    return Promise.resolve(this.address);
  }

  connect(provider: Provider | null): ChainSigner {
    return new ChainSigner(this.#key, provider);
  }

  /** Signs a 32-byte digest through the seam and proves the signature is this key's. */
  async #sign(digest: string): Promise<Signature> {
    let raw: Uint8Array;
    try {
      raw = await this.#key.signDigest(getBytes(digest));
    } catch (err) {
      throw new TransparencyError('SIGNER_KEY_MISMATCH', 'the chain signer failed to sign', {
        cause: err,
      });
    }
    if (raw.length === 64) {
      const r = hexlify(raw.subarray(0, 32));
      const s = hexlify(raw.subarray(32));
      for (const yParity of [0, 1] as const) {
        let signature: Signature;
        try {
          signature = Signature.from({ r, s, yParity });
        } catch {
          break; // a high s or a zero r: not a signature ethers accepts
        }
        if (SigningKey.recoverPublicKey(digest, signature).toLowerCase() === this.#publicKeyHex) {
          return signature;
        }
      }
    }
    throw new TransparencyError(
      'SIGNER_KEY_MISMATCH',
      `the chain signer returned a signature that is not by ${this.address}`,
    );
  }

  async signTransaction(request: TransactionRequest): Promise<string> {
    const tx = copyRequest(request);
    const { to, from } = await resolveProperties({
      to: tx.to ? resolveAddress(tx.to, this) : undefined,
      from: tx.from ? resolveAddress(tx.from, this) : undefined,
    });
    if (to != null) tx.to = to;
    if (from != null) tx.from = from;
    if (tx.from != null) {
      const claimed = getAddress(tx.from as string);
      if (claimed !== this.address) {
        throw new TransparencyError(
          'SIGNER_KEY_MISMATCH',
          `transaction from ${claimed} handed to the signer of ${this.address}`,
        );
      }
      delete tx.from;
    }
    const unsigned = Transaction.from(tx as TransactionLike<string>);
    unsigned.signature = await this.#sign(unsigned.unsignedHash);
    return unsigned.serialized;
  }

  async signMessage(message: string | Uint8Array): Promise<string> {
    return (await this.#sign(hashMessage(message))).serialized;
  }

  async signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    const populated = await TypedDataEncoder.resolveNames(domain, types, value, async (name) => {
      const address = await this.provider?.resolveName(name);
      if (!address) throw new TransparencyError('INVALID_ENTRY', `cannot resolve ${name}`);
      return address;
    });
    const digest = TypedDataEncoder.hash(
      populated.domain,
      types,
      populated.value as Record<string, unknown>,
    );
    return (await this.#sign(digest)).serialized;
  }
}

/** An ethers signer over a chain-account key (encrypted key file or HSM/KMS), on `provider`. */
export function createChainSigner(key: Secp256k1Signer, provider: Provider): ChainSigner {
  return new ChainSigner(key, provider);
}
