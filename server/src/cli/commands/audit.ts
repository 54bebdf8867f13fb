import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import type { AuditResult, LoggedRelease, VerifiedInstall } from '@tufchain/transparency';
import {
  addJsonOption,
  emit,
  parsePositiveInt,
  readJsonFile,
  readTextFile,
  resolveServerUrl,
  type JsonOption,
} from '../context.js';
import { CliError } from '../error.js';
import { writeJsonFile } from '../files.js';
import { readPublicKeyFile } from '../key-input.js';
import type { CliRun } from '../run.js';
import { collect } from './repo-init.js';

interface AuditOptions extends JsonOption {
  rpc: string[];
  quorum?: string;
  contract: string;
  server?: string;
  root: string;
  vehicleCa?: string;
  firmwareKey?: string;
  confirmations: string;
  chainId?: string;
  fromBlock?: string;
  packDir?: string;
}

export const AUDIT_PACK_FORMAT = 'tufchain/audit-pack/v1';

const plainHex = (h: string): string => h.toLowerCase().replace(/^0x/, '');

/**
 * One file per vehicle commitment: every verified install (its signed bundle, the vehicle certificate
 * and the decoded predicate) with the on-chain release entry its metadata hash points to, plus the
 * trust anchors needed to re-verify it offline.
 */
async function writeAuditPacks(
  dir: string,
  report: AuditResult,
  releases: LoggedRelease[],
  trust: { trustedRoot: unknown; contract: string; chainId?: number; vehicleCaPem?: string },
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const byVehicle = new Map<string, VerifiedInstall[]>();
  for (const inst of report.installs) {
    const key = plainHex(inst.predicate.vehicle.commitment);
    byVehicle.set(key, [...(byVehicle.get(key) ?? []), inst]);
  }
  const releaseByHash = new Map(releases.map((r) => [plainHex(r.metadataHash), r]));
  const files: string[] = [];
  for (const [commitment, installs] of byVehicle) {
    installs.sort(
      (a, b) =>
        Date.parse(a.predicate.finishedAt) - Date.parse(b.predicate.finishedAt) ||
        a.predicate.counter - b.predicate.counter,
    );
    const path = join(dir, `${commitment}.json`);
    await writeJsonFile(path, {
      format: AUDIT_PACK_FORMAT,
      generatedAt: new Date().toISOString(),
      vehicle: { commitment },
      trust,
      installs: installs.map((inst) => ({
        ecu: inst.predicate.ecu,
        from: inst.predicate.from,
        to: inst.predicate.to,
        result: inst.predicate.result,
        startedAt: inst.predicate.startedAt,
        finishedAt: inst.predicate.finishedAt,
        odometerKm: inst.predicate.odometerKm,
        metadata: inst.predicate.metadata,
        release: releaseByHash.get(plainHex(inst.predicate.metadata.targetsHash)) ?? null,
        subjectDigest: inst.subjectDigest,
        certificatePem: inst.certificatePem,
        bundle: inst.bundle,
      })),
      findings: report.findings.filter(
        (f) => f.subject !== undefined && plainHex(f.subject).includes(commitment),
      ),
    });
    files.push(path);
  }
  return files;
}

export function registerAuditCommand(program: Command, run: CliRun): void {
  const audit = program
    .command('audit')
    .description(
      'replay the contract events and the server history and verify them against each other; exit 1 on any finding',
    )
    .option('--rpc <url>', 'JSON-RPC endpoint (repeat for a k-of-n quorum)', collect, [])
    .option('--quorum <k>', 'endpoints that must agree (default: a majority)')
    .requiredOption('--contract <address>', 'TufchainLog contract address')
    .option('--server <url>', 'update server base URL (default: $TUFCHAIN_SERVER)')
    .requiredOption('--root <file>', 'trusted root metadata (normally 1.root.json)')
    .option('--vehicle-ca <pem>', 'vehicle CA certificate: verify install attestations')
    .option('--firmware-key <pem>', 'OEM build key (public key PEM): verify firmware attestations')
    .option('--confirmations <n>', 'confirmation depth for chain entries', '1')
    .option('--chain-id <id>', 'chain id every endpoint must serve')
    .option('--from-block <n>', 'first block to replay (the contract deployment block)')
    .option('--pack-dir <dir>', 'write one audit pack per vehicle into this directory');
  addJsonOption(audit).action(async (opts: AuditOptions) => {
    if (opts.rpc.length === 0)
      throw new CliError('USAGE_ERROR', 'at least one --rpc URL is required');
    if (!/^0x[0-9a-fA-F]{40}$/.test(opts.contract)) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--contract must be a 0x address, got ${opts.contract}`,
      );
    }
    const quorum =
      opts.quorum === undefined
        ? Math.floor(opts.rpc.length / 2) + 1
        : parsePositiveInt(opts.quorum, '--quorum');
    if (quorum > opts.rpc.length) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--quorum ${quorum} exceeds the ${opts.rpc.length} --rpc endpoint(s)`,
      );
    }
    const confirmations = parsePositiveInt(opts.confirmations, '--confirmations');
    const chainId =
      opts.chainId === undefined ? undefined : parsePositiveInt(opts.chainId, '--chain-id');
    const fromBlock =
      opts.fromBlock === undefined
        ? undefined
        : opts.fromBlock === '0'
          ? 0
          : parsePositiveInt(opts.fromBlock, '--from-block');
    const server = resolveServerUrl(run, opts);
    const trustedRoot = await readJsonFile(opts.root, 'trusted root', 'INVALID_ARGUMENT');
    const vehicleCaPem =
      opts.vehicleCa === undefined ? undefined : await readTextFile(opts.vehicleCa, 'vehicle CA');
    const firmwareKey =
      opts.firmwareKey === undefined ? undefined : await readPublicKeyFile(opts.firmwareKey);

    const { auditRepository, ChainReader, createHttpAuditSource, formatAuditSummary } =
      await import('@tufchain/transparency');
    const chain = new ChainReader({
      rpcUrls: opts.rpc,
      quorum,
      contractAddress: opts.contract,
      confirmations,
      ...(chainId === undefined ? {} : { chainId }),
      ...(fromBlock === undefined ? {} : { fromBlock }),
    });
    try {
      const report = await auditRepository({
        chain,
        source: createHttpAuditSource(server),
        trustedRoot,
        ...(vehicleCaPem === undefined ? {} : { vehicleCaPem }),
        ...(firmwareKey === undefined
          ? {}
          : { firmwareKey: { publicKeyPem: firmwareKey.publicKeyPem, keyId: firmwareKey.keyId } }),
      });
      let packs: string[] = [];
      if (opts.packDir !== undefined) {
        packs = await writeAuditPacks(opts.packDir, report, await chain.releases(), {
          trustedRoot,
          contract: opts.contract,
          ...(chainId === undefined ? {} : { chainId }),
          ...(vehicleCaPem === undefined ? {} : { vehicleCaPem }),
        });
      }
      if (report.findings.length > 0) run.exitCode = 1;
      emit(
        run,
        opts,
        { ok: report.findings.length === 0, findings: report.findings, stats: report.stats, packs },
        formatAuditSummary(report) +
          (packs.length > 0 ? `\naudit packs: ${packs.length} in ${opts.packDir}` : ''),
      );
    } finally {
      chain.destroy();
    }
  });
}
