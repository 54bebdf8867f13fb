import type { Command } from 'commander';
import {
  addJsonOption,
  type CliRun,
  type JsonOption,
  parsePositiveInt,
  resolveServerUrl,
  collect,
} from '../context.js';
import { CliError } from '../error.js';
import { readPublicKeyFile } from '../key-input.js';

interface AuditOptions extends JsonOption {
  rpc?: string[];
  quorum?: string;
  contract: string;
  server?: string;
  root: string;
  vehicleCa?: string;
  firmwareKey?: string;
  confirmations: string;
  chainId?: string;
  fromBlock?: string;
  logKey?: string[];
  logOrigin?: string;
  packDir?: string;
  oemToken?: string;
}

/** A failure runAuditCli reported on stderr, re-raised with its code. */
class AuditRunError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function registerAuditCommand(program: Command, run: CliRun): void {
  const audit = program
    .command('audit')
    .description(
      'replay the contract events and the server history (metadata, attestations, log) and verify them against each other; exit 1 on any finding',
    )
    .option('--rpc <url>', 'JSON-RPC endpoint (repeat for a k-of-n quorum)', collect)
    .option('--quorum <k>', 'endpoints that must agree (default: a majority)')
    .requiredOption('--contract <address>', 'TufchainLog contract address')
    .option('--server <url>', 'update server base URL (default: $TUFCHAIN_SERVER)')
    .requiredOption('--root <file>', 'trusted root metadata (normally 1.root.json)')
    .option('--vehicle-ca <pem>', 'vehicle CA certificate: verify install attestations')
    .option('--firmware-key <pem>', 'OEM build key (public key PEM): verify firmware attestations')
    .option('--confirmations <n>', 'confirmation depth for chain entries', '1')
    .option('--chain-id <id>', 'chain id every endpoint must serve')
    .option('--from-block <n>', 'first block to replay (the contract deployment block)')
    .option('--log-key <key>', 'C2SP verifier key of the transparency log (repeat)', collect)
    .option('--log-origin <origin>', 'expected checkpoint origin of the transparency log')
    .option(
      '--oem-token <token>',
      'OEM API token (any scope, audit too): check the Director through its openings, ECU inventories and manifests, and recompute every campaign wave from its fleet snapshot',
    )
    .option(
      '--pack-dir <dir>',
      'write one audit pack per vehicle into this directory (needs --vehicle-ca)',
    );
  addJsonOption(audit).action(async (opts: AuditOptions) => {
    const rpc = opts.rpc ?? [];
    if (rpc.length === 0) throw new CliError('USAGE_ERROR', 'at least one --rpc URL is required');
    if (!/^0x[0-9a-fA-F]{40}$/.test(opts.contract)) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--contract must be a 0x address, got ${opts.contract}`,
      );
    }
    const quorum =
      opts.quorum === undefined
        ? Math.floor(rpc.length / 2) + 1
        : parsePositiveInt(opts.quorum, '--quorum');
    if (quorum > rpc.length) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--quorum ${quorum} exceeds the ${rpc.length} --rpc endpoint(s)`,
      );
    }
    parsePositiveInt(opts.confirmations, '--confirmations');
    if (opts.chainId !== undefined) parsePositiveInt(opts.chainId, '--chain-id');
    if (opts.fromBlock !== undefined && opts.fromBlock !== '0')
      parsePositiveInt(opts.fromBlock, '--from-block');
    if (opts.packDir !== undefined && opts.vehicleCa === undefined) {
      throw new CliError(
        'USAGE_ERROR',
        '--pack-dir needs --vehicle-ca (packs hold verified installs)',
      );
    }
    const server = resolveServerUrl(run, opts);
    const firmwareKey =
      opts.firmwareKey === undefined ? undefined : await readPublicKeyFile(opts.firmwareKey);

    const argv = [
      '--server',
      server,
      ...rpc.flatMap((url) => ['--rpc', url]),
      '--quorum',
      String(quorum),
      '--contract',
      opts.contract,
      '--trusted-root',
      opts.root,
      '--confirmations',
      opts.confirmations,
      ...(opts.chainId === undefined ? [] : ['--chain-id', opts.chainId]),
      ...(opts.fromBlock === undefined ? [] : ['--from-block', opts.fromBlock]),
      ...(opts.vehicleCa === undefined ? [] : ['--vehicle-ca', opts.vehicleCa]),
      ...(firmwareKey === undefined || opts.firmwareKey === undefined
        ? []
        : ['--firmware-key-pem', opts.firmwareKey, '--firmware-key-id', firmwareKey.keyId]),
      ...(opts.logKey ?? []).flatMap((k) => ['--log-key', k]),
      ...(opts.logOrigin === undefined ? [] : ['--log-origin', opts.logOrigin]),
      ...(opts.packDir === undefined ? [] : ['--audit-pack-dir', opts.packDir]),
      ...(opts.oemToken === undefined ? [] : ['--oem-token', opts.oemToken]),
      ...(opts.json ? ['--json'] : []),
    ];
    const { runAuditCli } = await import('@tufchain/transparency');
    const failures: string[] = [];
    const code = await runAuditCli(argv, {
      stdout: (line) => run.io.stdout(line),
      stderr: (line) => {
        const failed = /^tufchain audit failed: ([A-Z][A-Z0-9_]+): /.exec(line);
        if (failed) failures.push(line);
        else run.io.stderr(line);
      },
    });
    if (code === 0 || code === 1) {
      run.exitCode = code;
      return;
    }
    // Usage is checked above, so anything else is a failure to run the audit; report its code.
    const failure =
      failures[0] ?? 'tufchain audit failed: AUDIT_FAILED: the audit did not complete';
    const [, failedCode = 'AUDIT_FAILED', message = failure] =
      /^tufchain audit failed: ([A-Z][A-Z0-9_]+): (.*)$/s.exec(failure) ?? [];
    throw new AuditRunError(failedCode, message);
  });
}
