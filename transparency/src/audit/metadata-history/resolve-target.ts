import type { TargetFile } from '@tufjs/models';
import type { RoleState } from './model.js';

/** TUF's default maximum number of delegations visited in one target search. */
const MAX_DELEGATIONS = 32;

/**
 * The target a TUF client resolves for `path` among the trusted roles of a snapshot: a pre-order
 * search from top-level targets, in delegation order, that a terminating delegation stops.
 */
export function resolveTarget(
  trusted: ReadonlyMap<string, RoleState>,
  path: string,
): { role: string; file: TargetFile } | undefined {
  let budget = MAX_DELEGATIONS;
  let stop = false;
  const seen = new Set<string>();
  const search = (role: string): { role: string; file: TargetFile } | undefined => {
    const md = trusted.get(role)?.md;
    if (!md || seen.has(role) || budget-- <= 0) return undefined;
    seen.add(role);
    if (Object.hasOwn(md.signed.targets, path)) return { role, file: md.signed.targets[path]! };
    for (const child of md.signed.delegations?.rolesForTarget(path) ?? []) {
      const found = search(child.role);
      if (found || stop) return found;
      if (child.terminating) {
        stop = true;
        return undefined;
      }
    }
    return undefined;
  };
  return search('targets');
}
