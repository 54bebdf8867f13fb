import type { Command } from 'commander';
import { addJsonOption, type CliRun, emit, type JsonOption, resolveServerUrl } from '../context.js';
import { CliError } from '../error.js';

interface BundleCreateOptions extends JsonOption {
  server?: string;
  hardwareId: string;
  out: string;
  deltaFrom?: string;
  deltaOnly?: boolean;
}

const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);

export function registerBundleCommand(program: Command, run: CliRun): void {
  const bundle = program
    .command('bundle')
    .description('offline update bundles, for delivery by USB or by a dealer');
  const create = bundle
    .command('create')
    .description(
      'write one file holding the TUF metadata, the newest image for a hardware ID, its Sigstore bundle and its chain entry; vehicles install it with no network under the same checks (tufchain-agent install-bundle)',
    )
    .option('--server <url>', 'update server base URL (default: $TUFCHAIN_SERVER)')
    .requiredOption('--hardware-id <id>', 'the hardware ID the image is for')
    .requiredOption('--out <file>', 'bundle file to write')
    .option(
      '--delta-from <version>',
      'also carry the delta from this base version (vehicles on it install from the delta; others from the image)',
    )
    .option(
      '--delta-only',
      'with --delta-from: leave the full image out (a smaller file); only a vehicle on that base version can install it',
    );
  addJsonOption(create).action(async (opts: BundleCreateOptions) => {
    const serverUrl = resolveServerUrl(run, opts);
    if (opts.deltaOnly && opts.deltaFrom === undefined) {
      throw new CliError('INVALID_ARGUMENT', '--delta-only needs --delta-from VERSION');
    }
    const { createOfflineBundle } = await import('@tufchain/transparency');
    let lastDecile = -1;
    const made = await createOfflineBundle({
      serverUrl,
      hardwareId: opts.hardwareId,
      outPath: opts.out,
      ...(opts.deltaFrom !== undefined ? { deltaFrom: opts.deltaFrom } : {}),
      ...(opts.deltaOnly ? { deltaOnly: true } : {}),
      onProgress: (done, total) => {
        const decile = Math.floor((done / Math.max(total, 1)) * 10);
        if (decile === lastDecile) return;
        lastDecile = decile;
        run.io.stderr(`bundle ${opts.out}: ${decile * 10}% ${mib(done)}/${mib(total)} MiB`);
      },
    });
    emit(
      run,
      opts,
      {
        bundle: opts.out,
        hardwareId: opts.hardwareId,
        target: made.target,
        bytes: made.bytes,
        ...(made.delta ? { delta: made.delta } : {}),
        fullImage: made.fullImage,
      },
      `wrote ${opts.out}: ${made.target} for ${opts.hardwareId} (${made.bytes} bytes${made.delta ? `, ${made.fullImage ? 'with' : 'only'} the delta from ${made.delta.baseVersion}: ${made.delta.length} bytes${made.fullImage ? '' : `, installable only on ${made.delta.baseVersion}`}` : ''}); install it with \`tufchain-agent install-bundle ${opts.out}\``,
    );
  });
}
