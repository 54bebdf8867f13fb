import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { addChainOptions, createChainReader, type ChainOptions } from '../chain-options.js';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parsePositiveInt,
  type ServerOptions,
} from '../context.js';
import { describeError } from '../error.js';
import { exportStaticRepository, type ExportResult } from '../export/export-static.js';

interface ExportStaticOptions extends JsonOption, ServerOptions, ChainOptions {
  watch?: string;
}

/**
 * With --watch, these end one round and the next one tries again: the chain has not confirmed the
 * snapshot yet, an endpoint or the server is briefly away, or a lagging replica answered an older
 * timestamp than the one exported. Anything else (a changed versioned file, a bad signature or
 * hash) needs a person and stops the watch with its code.
 */
const RETRIED_IN_WATCH = new Set([
  'METADATA_NOT_LOGGED',
  'NOT_CONFIRMED',
  'QUORUM_DISAGREES',
  'RPC_UNAVAILABLE',
  'SERVER_UNREACHABLE',
  'TIMEOUT',
  'TIMESTAMP_ROLLBACK',
]);

function summary(baseUrl: string, result: ExportResult): string {
  return [
    `exported ${baseUrl} to ${result.dir}`,
    `  timestamp v${result.timestampVersion}${result.timestampWritten ? '' : ' (unchanged)'}, snapshot v${result.snapshotVersion}, root v${result.rootVersion}`,
    `  on chain: ${result.metadataHash} in tx ${result.chain.txHash} (block ${result.chain.blockNumber}, ${result.chain.confirmations} confirmation(s))`,
    `  metadata files: ${result.metadataWritten} written, ${result.metadataUnchanged} unchanged`,
    `  targets: ${result.targetsWritten} written, ${result.targetsUnchanged} unchanged`,
  ].join('\n');
}

export function registerExportStaticCommand(program: Command, run: CliRun): void {
  const cmd = program
    .command('export-static')
    .argument('<dir>', 'export directory: the web server or CDN origin root')
    .description(
      'copy the served TUF repository into DIR with the server URL layout (DIR/metadata, DIR/targets) for any static web server or CDN; versioned files and targets first, timestamp.json last and only once the snapshot it pins is confirmed on chain (else METADATA_NOT_LOGGED / NOT_CONFIRMED, the old timestamp.json stays)',
    )
    .option(
      '--watch <seconds>',
      'export again every SECONDS until SIGINT/SIGTERM; a round the chain has not confirmed yet is retried (one line per new timestamp; JSON lines with --json)',
    );
  addChainOptions(cmd, 'JSON-RPC endpoint the on-chain check asks (required; repeat for a quorum)');
  addServerOptions(cmd);
  addJsonOption(cmd).action(async (dir: string, opts: ExportStaticOptions) => {
    const intervalMs =
      opts.watch === undefined ? undefined : parsePositiveInt(opts.watch, '--watch') * 1000;
    const api = await createApiClient(run, opts, false);
    const chain = await createChainReader(opts);
    const verified = new Set<string>();
    const exportOnce = () => exportStaticRepository({ api, dir: resolve(dir), chain, verified });
    try {
      if (intervalMs === undefined) {
        const result = await exportOnce();
        emit(run, opts, result, summary(api.baseUrl, result));
        return;
      }
      const signal = run.stopSignal?.() ?? new AbortController().signal;
      while (!signal.aborted) {
        try {
          const result = await exportOnce();
          if (result.timestampWritten) {
            run.io.stdout(opts.json ? JSON.stringify(result) : summary(api.baseUrl, result));
          }
        } catch (error) {
          const report = describeError(error);
          if (!RETRIED_IN_WATCH.has(report.code) && (report.status ?? 0) < 500) throw error;
          run.io.stderr(
            `tufchain: export-static: ${report.code}: ${report.message} (timestamp.json unchanged; next try in ${opts.watch} s)`,
          );
        }
        try {
          await sleep(intervalMs, undefined, { signal });
        } catch {
          break; // stopped
        }
      }
    } finally {
      chain.destroy();
    }
  });
}
