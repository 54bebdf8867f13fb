import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChainReader } from '../chain/reader.js';
import { TransparencyError } from '../error.js';
import { auditRepository, type AuditResult } from './auditor.js';
import { parseProofBundle } from '../bundle/proof-bundle.js';
import { parseVerifierKey } from '../note/signed-note.js';
import { createVehicleAuditPacks, writeVehicleAuditPack } from './audit-pack.js';
import { createHttpAuditSource } from './http-source.js';
import { createHttpLogAuditSource } from './log-source.js';

export interface AuditCliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

export const AUDIT_USAGE = `usage: tufchain audit --server URL --rpc URL [--rpc URL ...] --contract ADDRESS --trusted-root FILE
  [--quorum K] [--confirmations N] [--chain-id ID] [--from-block N]
  [--vehicle-ca FILE] [--firmware-key-pem FILE --firmware-key-id ID] [--json]
  [--log-key VERIFIER_KEY ... [--log-origin ORIGIN]]   replay the transparency log (C2SP verifier keys)
  [--audit-pack-dir DIR]                                write one <commitment>.json audit pack per vehicle
  [--oem-token TOKEN]                                   read Director openings, ECU inventories, manifests and
                                                        campaign wave snapshots (any OEM token, audit scope too)
exit code: 0 no finding, 1 findings, 2 usage or I/O error`;

/**
 * What the Director checks left out (no log replayed, no OEM token): an audit with no finding
 * that skipped them must not read as a complete one.
 */
export function directorChecksSkipped(report: Pick<AuditResult, 'director'>): string[] {
  const d = report.director;
  if (!d) return [];
  return [
    ...(d.logChecked ? [] : ['the log (no --log-key)']),
    ...(d.ecuSignaturesChecked ? [] : ['ECU signatures (no --oem-token)']),
  ];
}

/** Formats a report as a human summary. */
export function formatAuditSummary(report: AuditResult): string {
  const skipped = directorChecksSkipped(report);
  const verdict =
    report.findings.length > 0
      ? `${report.findings.length} finding(s)`
      : skipped.length > 0
        ? `no finding, PARTIAL: the Director was not checked against ${skipped.join(' or ')}`
        : 'OK, no finding';
  const lines = [
    `tufchain audit: ${verdict}`,
    ...Object.entries(report.stats).map(([k, v]) => `  ${k}: ${v}`),
    ...(report.director
      ? [
          `  Director: ${report.director.logChecked ? 'checked against the log' : 'NOT checked against the log (no --log-key)'}; ECUs matched by ${report.director.ecuMatch === 'commitment' ? 'their logged commitments' : 'image name and sha256 only (no --oem-token)'}; ECU signatures ${report.director.ecuSignaturesChecked ? 'checked' : 'NOT checked (no --oem-token)'}`,
        ]
      : []),
    ...((report.stats.campaigns ?? 0) > 0 && !report.stats.wavesRecomputed
      ? ['  Campaigns: wave members NOT recomputed (no --oem-token to open the fleet snapshots)']
      : []),
  ];
  for (const f of report.findings) {
    lines.push(
      `  [${f.severity.toUpperCase()}] ${f.code}${f.subject ? ` (${f.subject})` : ''}: ${f.message}`,
    );
  }
  return lines.join('\n');
}

/** `tufchain audit`: returns the process exit code. */
export async function runAuditCli(argv: string[], io: AuditCliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        rpc: { type: 'string', multiple: true },
        contract: { type: 'string' },
        'trusted-root': { type: 'string' },
        quorum: { type: 'string' },
        confirmations: { type: 'string' },
        'chain-id': { type: 'string' },
        'from-block': { type: 'string' },
        'vehicle-ca': { type: 'string' },
        'firmware-key-pem': { type: 'string' },
        'firmware-key-id': { type: 'string' },
        json: { type: 'boolean' },
        'log-key': { type: 'string', multiple: true },
        'log-origin': { type: 'string' },
        'audit-pack-dir': { type: 'string' },
        'oem-token': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${AUDIT_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(AUDIT_USAGE);
    return 0;
  }
  const rpc = values.rpc ?? [];
  if (!values.server || rpc.length === 0 || !values.contract || !values['trusted-root']) {
    io.stderr(AUDIT_USAGE);
    return 2;
  }
  const int = (v: string | undefined, fallback: number) =>
    v === undefined ? fallback : Number.parseInt(v, 10);
  let chain: ChainReader | undefined;
  try {
    const trustedRoot = JSON.parse(await readFile(values['trusted-root'], 'utf8')) as unknown;
    const vehicleCaPem = values['vehicle-ca']
      ? await readFile(values['vehicle-ca'], 'utf8')
      : undefined;
    const firmwareKey =
      values['firmware-key-pem'] && values['firmware-key-id']
        ? {
            publicKeyPem: await readFile(values['firmware-key-pem'], 'utf8'),
            keyId: values['firmware-key-id'],
          }
        : undefined;
    const chainId = values['chain-id'] === undefined ? undefined : int(values['chain-id'], 0);
    chain = new ChainReader({
      rpcUrls: rpc,
      quorum: int(values.quorum, Math.floor(rpc.length / 2) + 1),
      confirmations: int(values.confirmations, 1),
      contractAddress: values.contract,
      fromBlock: int(values['from-block'], 0),
      ...(chainId === undefined ? {} : { chainId }),
    });
    const logKeys = (values['log-key'] ?? []).map((k) => parseVerifierKey(k));
    const logSource = logKeys.length > 0 ? createHttpLogAuditSource(values.server) : undefined;
    const report = await auditRepository({
      chain,
      source: createHttpAuditSource(
        values.server,
        values['oem-token'] ? { oemToken: values['oem-token'] } : {},
      ),
      trustedRoot,
      ...(vehicleCaPem ? { vehicleCaPem } : {}),
      ...(firmwareKey ? { firmwareKey } : {}),
      ...(logSource
        ? {
            log: {
              source: logSource,
              verifiers: logKeys,
              ...(values['log-origin'] ? { origin: values['log-origin'] } : {}),
            },
          }
        : {}),
    });
    if (values['audit-pack-dir'] && vehicleCaPem) {
      const dir = values['audit-pack-dir'];
      await mkdir(dir, { recursive: true });
      const packs = await createVehicleAuditPacks(report, {
        vehicleCaPem,
        contractAddress: values.contract,
        ...(chainId === undefined ? {} : { chainId }),
        logProofBundle: async (index) => {
          if (!logSource?.proofBundle) return undefined;
          try {
            return parseProofBundle(await logSource.proofBundle(index));
          } catch {
            return undefined;
          }
        },
        proofBundle: async (inst) => {
          if (inst.logIndex === undefined || !logSource?.proofBundle) return undefined;
          try {
            return parseProofBundle(await logSource.proofBundle(inst.logIndex));
          } catch {
            return undefined;
          }
        },
      });
      for (const [commitment, pack] of packs)
        await writeVehicleAuditPack(join(dir, `${commitment}.json`), pack);
      io.stderr(`wrote ${packs.size} vehicle audit pack(s) to ${dir}`);
    }
    if (values.json) {
      const director = report.director
        ? {
            director: {
              complete: directorChecksSkipped(report).length === 0,
              logChecked: report.director.logChecked,
              ecuMatch: report.director.ecuMatch,
              ecuSignaturesChecked: report.director.ecuSignaturesChecked,
            },
          }
        : {};
      io.stdout(
        JSON.stringify({ findings: report.findings, stats: report.stats, ...director }, null, 2),
      );
    } else {
      io.stdout(formatAuditSummary(report));
    }
    return report.findings.length === 0 ? 0 : 1;
  } catch (err) {
    const code = err instanceof TransparencyError ? err.code : 'AUDIT_FAILED';
    io.stderr(`tufchain audit failed: ${code}: ${(err as Error).message}`);
    return 2;
  } finally {
    chain?.destroy();
  }
}
