import type { MetaFile } from '@tufjs/models';
import { isHash32, normalizeHash32 } from '../../util/hex.js';
import { Findings } from '../findings.js';
import type { AuditFinding } from '../source.js';
import type { RoleState } from './model.js';

/** Each role file (that parsed) has the length and sha256 the snapshot gives for it, if any. */
export function checkSnapshotMeta(
  version: number,
  meta: Readonly<Record<string, MetaFile>>,
  roles: ReadonlyMap<string, RoleState>,
): AuditFinding[] {
  const findings = new Findings();
  for (const [file, pinned] of Object.entries(meta)) {
    const state = roles.get(file.replace(/\.json$/, ''));
    if (!state?.md) continue;
    const wantSha = pinned.hashes?.sha256;
    if (
      (pinned.length !== undefined && pinned.length !== state.length) ||
      (wantSha !== undefined && (!isHash32(wantSha) || normalizeHash32(wantSha) !== state.sha256))
    ) {
      findings.error(
        'SNAPSHOT_META_MISMATCH',
        `${file} ${pinned.version} does not match the length or hash snapshot ${version} gives`,
        `snapshot:${version}`,
      );
    }
  }
  return findings.list;
}
