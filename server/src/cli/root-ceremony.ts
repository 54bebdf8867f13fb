import type { CeremonyStatus, RoleKeys } from '@tufchain/keys';
import { parsePositiveInt } from './context.js';
import { CliError } from './error.js';
import { readPublicKeyFile } from './key-input.js';

// What the root ceremony commands share: `repo init`, `sign --role root` and `rotate-root prepare`.

export async function roleKeys(
  files: string[],
  threshold: string,
  role: string,
): Promise<RoleKeys> {
  if (files.length === 0)
    throw new CliError('USAGE_ERROR', `at least one --${role}-key is required`);
  const keys = [];
  for (const f of files) keys.push((await readPublicKeyFile(f)).publicKey);
  return { keys, threshold: parsePositiveInt(threshold, `the ${role} threshold`) };
}

export interface RoleChange {
  role: string;
  keyids: string[];
  threshold: number;
  /** Rotation only: keys the new root adds to / drops from this role, and the old threshold. */
  added: string[];
  removed: string[];
  previousThreshold: number | null;
}

type RolesJson = Record<string, { keyids?: string[]; threshold?: number } | undefined>;

/**
 * What a root ceremony file assigns to each role and, for a rotation, what changes against the root
 * it replaces: what a holder actually signs. Call after describeRootCeremony validated the file.
 */
export function rootRoleChanges(ceremony: unknown): RoleChange[] {
  const c = ceremony as {
    root: { signed: { roles: RolesJson } };
    previousRoot?: { signed: { roles: RolesJson } };
  };
  const before = c.previousRoot?.signed.roles;
  return ['root', 'targets', 'snapshot', 'timestamp'].map((role) => {
    const now = c.root.signed.roles[role];
    const was = before?.[role];
    const keyids = now?.keyids ?? [];
    const old = was?.keyids ?? [];
    return {
      role,
      keyids,
      threshold: now?.threshold ?? 0,
      added: before ? keyids.filter((k) => !old.includes(k)) : [],
      removed: before ? old.filter((k) => !keyids.includes(k)) : [],
      previousThreshold: before ? (was?.threshold ?? null) : null,
    };
  });
}

/** Human lines describing what a ceremony signs, who signed it and who still has to. */
export function ceremonyText(status: CeremonyStatus, changes: RoleChange[] = []): string {
  const lines = [
    `root v${status.version}, expires ${status.expires}`,
    ...changes.flatMap((c) => [
      `  ${c.role}: ${c.threshold} of ${c.keyids.length} keys` +
        (c.previousThreshold !== null && c.previousThreshold !== c.threshold
          ? ` (threshold was ${c.previousThreshold})`
          : ''),
      ...c.keyids.map((k) => `    ${c.added.includes(k) ? '+' : ' '} ${k}`),
      ...c.removed.map((k) => `    - ${k} (revoked)`),
    ]),
    `payload sha256 (compare out of band before signing): ${status.payloadSha256}`,
  ];
  for (const r of status.requirements) {
    lines.push(
      `  ${r.label}: ${r.signed.length} of ${r.threshold} required signatures${r.met ? ' (met)' : ''}`,
      ...r.missing.map((k) => `    not yet signed: ${k}`),
    );
  }
  lines.push(
    status.complete ? 'complete: every threshold is met' : 'incomplete: more holders must sign',
  );
  return lines.join('\n');
}
