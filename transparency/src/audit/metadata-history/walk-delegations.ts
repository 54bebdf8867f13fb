import { MetadataKind, type Metadata, type Root, type Targets } from '@tufjs/models';
import { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX } from '../../wire/layout.js';
import { errorMessage, Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';
import { once, type ReplayState, type RoleState } from './model.js';
import { newestSigningRoot } from './newest-signing-root.js';

type DelegatedRole = NonNullable<NonNullable<Targets['delegations']>['roles']>[string];

/** A role that verified for the first time (or again, after it or its delegator changed). */
export interface RecheckedRole {
  role: string;
  state: RoleState;
  /** The hardware IDs it may sign firmware for: null means unrestricted. */
  scope: string[] | null;
}

export interface DelegationWalk {
  findings: AuditFinding[];
  /** Every role a TUF client trusts in this snapshot, by name. */
  trusted: Map<string, RoleState>;
  scopes: Map<string, string[] | null>;
  recheck: RecheckedRole[];
  /** False once a role failed to load or verify: its subtree is unknown. */
  complete: boolean;
}

/** The hardware IDs a delegated role may sign firmware for: null means unrestricted. */
function scopeOf(role: DelegatedRole, parent: readonly string[] | null): string[] | null {
  const field = role.unrecognizedFields?.[HARDWARE_IDS_FIELD];
  let own: string[] | null = null;
  if (Array.isArray(field)) own = field.filter((h): h is string => typeof h === 'string');
  else if (role.name.startsWith(SUPPLIER_ROLE_PREFIX)) own = [];
  if (own === null) return parent ? [...parent] : null;
  return parent === null ? own : own.filter((h) => parent.includes(h));
}

/**
 * Walks the delegation tree of snapshot `version` from top-level targets, as a TUF client would
 * trust it: top-level targets must be signed by targets keys of a trusted root (not only by keys
 * a rotation removed), every delegated role at the version the snapshot pins must verify against
 * its delegator (`Metadata.verifyDelegate`), and every delegated role must be in the snapshot.
 * A verification is done once per (delegator, role) pair of versions and remembered in `state`.
 */
export function walkDelegations(
  state: ReplayState,
  version: number,
  pins: ReadonlyMap<string, number>,
  roots: readonly Metadata<Root>[],
): DelegationWalk {
  const findings = new Findings();
  const subject = `snapshot:${version}`;
  const trusted = new Map<string, RoleState>();
  const recheck: RecheckedRole[] = [];
  const scopes = new Map<string, string[] | null>();
  let complete = true;
  const visit = (
    role: string,
    parent: { name: string; state: RoleState } | null,
    scope: string[] | null,
  ) => {
    if (trusted.has(role)) return;
    const pinned = pins.get(role);
    if (pinned === undefined) {
      if (once(state, `not-in-snapshot:${parent?.name}@${parent?.state.version}>${role}`))
        findings.error(
          'ROLE_NOT_IN_SNAPSHOT',
          `${role} is delegated by ${parent?.name ?? 'root'} but snapshot ${version} does not list it`,
          subject,
        );
      return;
    }
    const roleState = state.roles.get(role);
    if (!roleState?.md) {
      complete = false;
      return;
    }
    const key = `${parent ? `${parent.name}@${parent.state.version}#${parent.state.sha256}` : 'root'}>${role}@${pinned}#${roleState.sha256}`;
    let valid = state.verified.get(key);
    if (valid === undefined) {
      if (parent) {
        try {
          parent.state.md!.verifyDelegate(role, roleState.asReceived!);
          valid = true;
        } catch (err) {
          valid = false;
          findings.error(
            'DELEGATE_SIGNATURE_INVALID',
            `${role} ${pinned} does not verify against ${parent.name} ${parent.state.version}: ${errorMessage(err)}`,
            `${role}:${pinned}`,
          );
        }
      } else {
        const signer =
          roots.length > 0
            ? newestSigningRoot(roots, MetadataKind.Targets, roleState.asReceived!)
            : 0;
        valid = signer >= 0;
        if (!valid) {
          findings.error(
            'TARGETS_SIGNATURE_INVALID',
            `targets ${pinned} is not signed by a threshold of targets keys of any trusted root`,
            `targets:${pinned}`,
          );
        } else if (signer < state.newestTargetsRoot) {
          // Published after a version the newer keys signed, yet signed only by keys a rotation removed.
          findings.error(
            'TARGETS_SIGNED_BY_ROTATED_KEYS',
            `targets ${pinned} is signed only by keys of root ${roots[signer]!.signed.version}, after root ${roots[state.newestTargetsRoot]!.signed.version} keys were in use`,
            `targets:${pinned}`,
          );
        }
        if (valid) state.newestTargetsRoot = Math.max(state.newestTargetsRoot, signer);
      }
      state.verified.set(key, valid);
      if (valid) {
        state.stats.roleVersionsVerified = (state.stats.roleVersionsVerified ?? 0) + 1;
        recheck.push({ role, state: roleState, scope });
      }
    }
    if (!valid) {
      complete = false;
      return;
    }
    trusted.set(role, roleState);
    scopes.set(role, scope);
    const delegations = roleState.md.signed.delegations;
    if (!delegations) return;
    const self = { name: role, state: roleState };
    for (const child of Object.values(delegations.roles ?? {})) {
      visit(child.name, self, scopeOf(child, scope));
    }
    if (delegations.succinctRoles) {
      for (const bin of delegations.succinctRoles.getRoles()) visit(bin, self, scope);
    }
  };
  visit('targets', null, null);
  return { findings: findings.list, trusted, scopes, recheck, complete };
}
