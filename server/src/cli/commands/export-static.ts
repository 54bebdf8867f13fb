import { resolve } from 'node:path';
import type { Command } from 'commander';
import { addChainOptions, createChainReader, type ChainOptions } from '../chain-options.js';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  type ServerOptions,
} from '../context.js';
import { exportStaticRepository } from '../export/export-static.js';

interface ExportStaticOptions extends JsonOption, ServerOptions, ChainOptions {}

export function registerExportStaticCommand(program: Command, run: CliRun): void {
  const cmd = program
    .command('export-static')
    .argument('<dir>', 'export directory: the web server or CDN origin root')
    .description(
      'copy the served TUF repository into DIR with the server URL layout (DIR/metadata, DIR/targets) for any static web server or CDN; versioned files and targets first, timestamp.json last and only once the snapshot it pins is confirmed on chain (else METADATA_NOT_LOGGED / NOT_CONFIRMED, the old timestamp.json stays)',
    );
  addChainOptions(cmd, 'JSON-RPC endpoint the on-chain check asks (required; repeat for a quorum)');
  addServerOptions(cmd);
  addJsonOption(cmd).action(async (dir: string, opts: ExportStaticOptions) => {
    const api = await createApiClient(run, opts, false);
    const chain = await createChainReader(opts);
    try {
      const result = await exportStaticRepository({ api, dir: resolve(dir), chain });
      emit(
        run,
        opts,
        result,
        [
          `exported ${api.baseUrl} to ${result.dir}`,
          `  timestamp v${result.timestampVersion}${result.timestampWritten ? '' : ' (unchanged)'}, snapshot v${result.snapshotVersion}, root v${result.rootVersion}`,
          `  on chain: ${result.metadataHash} in tx ${result.chain.txHash} (block ${result.chain.blockNumber}, ${result.chain.confirmations} confirmation(s))`,
          `  metadata files: ${result.metadataWritten} written, ${result.metadataUnchanged} unchanged`,
          `  targets: ${result.targetsWritten} written, ${result.targetsUnchanged} unchanged`,
        ].join('\n'),
      );
    } finally {
      chain.destroy();
    }
  });
}
