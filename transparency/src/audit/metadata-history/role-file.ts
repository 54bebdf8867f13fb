import { sha256Hex } from '../../util/hex.js';
import { errorMessage, Findings, parseJson } from '../findings.js';
import type { AuditFinding } from '../source.js';
import type { Fetched, RoleState } from './model.js';
import { firmwareTargets } from './parse.js';
import { parseTargetsMetadata } from '../../wire/tuf-metadata.js';

/** A fetched role file as the checks see it: hashed, parsed when it parses. */
export function readRoleFile(role: string, version: number, fetched: Fetched): RoleState {
  const state: RoleState = {
    version,
    sha256: '',
    length: 0,
    md: null,
    asReceived: null,
    firmware: [],
    unreachable: new Set(),
  };
  if ('error' in fetched) return { ...state, fetchError: fetched.error };
  state.sha256 = sha256Hex(fetched.bytes);
  state.length = fetched.bytes.byteLength;
  try {
    ({ md: state.md, asReceived: state.asReceived } = parseTargetsMetadata(
      parseJson(fetched.bytes),
    ));
  } catch (err) {
    return { ...state, parseError: errorMessage(err) };
  }
  state.firmware = firmwareTargets(role, state.md.signed);
  return state;
}

/** A role file must be served, be targets metadata and claim the version in its name. */
export function checkRoleFile(role: string, state: RoleState, subject: string): AuditFinding[] {
  const findings = new Findings();
  const { version } = state;
  if ('fetchError' in state) {
    findings.error(
      'AUDIT_SOURCE_UNAVAILABLE',
      `${role} ${version}: ${errorMessage(state.fetchError)}`,
      subject,
    );
  } else if (state.parseError !== undefined) {
    findings.error(
      'TARGETS_MALFORMED',
      `${role} ${version}: ${state.parseError}`,
      `${role}:${version}`,
    );
  } else if (state.md && state.md.signed.version !== version) {
    findings.error(
      'TARGETS_VERSION_MISMATCH',
      `file ${version}.${role}.json claims version ${state.md.signed.version}`,
      `${role}:${version}`,
    );
  }
  return findings.list;
}
