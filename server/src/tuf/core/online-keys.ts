import type { Root, Targets } from '@tufjs/models';
import { ServerError } from '../../error.js';
import { BINS_ROLE } from '../layout.js';
import { binsSignersOf, toArray, type OnlineSigners } from '../metadata.js';
import type { TufSigner } from '../signer.js';

export type OnlineRole = 'targets' | 'snapshot' | 'timestamp';

/** The online keys the server holds, and which of them the current metadata authorizes. */
export class OnlineKeys {
  readonly #signers: OnlineSigners;

  constructor(signers: OnlineSigners) {
    this.#signers = signers;
  }

  /**
   * A threshold of `role`'s keys in `root`; OFFLINE_TARGETS_REQUIRED (no targets key at all) or
   * ONLINE_KEY_NOT_AUTHORIZED otherwise.
   */
  forRole(role: OnlineRole, root: Root): TufSigner[] {
    const def = root.roles[role];
    if (!def) throw new ServerError('INTERNAL', `root defines no ${role} role`);
    const allowed = new Set(def.keyIDs);
    const chosen = toArray(this.#signers[role]).filter((s) => allowed.has(s.keyId));
    if (chosen.length < def.threshold) {
      if (role === 'targets' && !this.hasOnlineTargets()) {
        throw new ServerError(
          'OFFLINE_TARGETS_REQUIRED',
          'targets is signed offline; upload signed targets metadata',
        );
      }
      throw new ServerError(
        'ONLINE_KEY_NOT_AUTHORIZED',
        `only ${chosen.length} of the configured ${role} keys are authorized by root (threshold ${def.threshold})`,
      );
    }
    return chosen.slice(0, Math.max(def.threshold, 1));
  }

  /** Signers for `bins` and the hashed bins, as top-level targets delegates them. */
  forBins(top: Targets): TufSigner[] {
    const def = top.delegations?.roles?.[BINS_ROLE];
    const chosen = this.binsSigners().filter((s) => def?.keyIDs.includes(s.keyId));
    if (!def || chosen.length < def.threshold) {
      throw new ServerError(
        'ONLINE_KEY_NOT_AUTHORIZED',
        'the configured bins keys are not a threshold of the bins delegation',
      );
    }
    return chosen.slice(0, Math.max(def.threshold, 1));
  }

  /** Every configured bins signer, authorized or not (by default the snapshot key). */
  binsSigners(): readonly TufSigner[] {
    return binsSignersOf(this.#signers);
  }

  hasOnlineTargets(): boolean {
    return toArray(this.#signers.targets).length > 0;
  }

  /** Key IDs of the configured signers of a top-level role. */
  keyIds(role: OnlineRole): string[] {
    return toArray(this.#signers[role]).map((s) => s.keyId);
  }
}
