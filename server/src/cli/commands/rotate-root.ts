import type { Command } from 'commander';
import type { RotateRootOptions } from '@tufchain/keys';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parseExpires,
  readJsonFile,
  type ServerOptions,
  collect,
} from '../context.js';
import { CliError } from '../error.js';
import { writeJsonFile } from '../files.js';
import { ceremonyText, roleKeys, rootRoleChanges } from '../root-ceremony.js';

interface PrepareOptions extends JsonOption, ServerOptions {
  previousRoot?: string;
  rootKey?: string[];
  threshold?: string;
  targetsKey?: string[];
  targetsThreshold?: string;
  snapshotKey?: string[];
  timestampKey?: string[];
  expires: string;
  out: string;
}

async function changedRole(
  files: string[],
  threshold: string | undefined,
  role: string,
): Promise<RotateRootOptions['root']> {
  if (files.length === 0) {
    if (threshold !== undefined) {
      throw new CliError(
        'USAGE_ERROR',
        `a new ${role} threshold needs the ${role} keys (--${role}-key)`,
      );
    }
    return undefined;
  }
  return roleKeys(files, threshold ?? '1', role);
}

export function registerRotateRootCommand(program: Command, run: CliRun): void {
  const rotate = program
    .command('rotate-root')
    .description(
      'rotate root: prepare root N+1, have a threshold of the OLD and of the NEW root keys sign it (`tufchain sign --role root`), upload it',
    );

  const prepare = rotate
    .command('prepare')
    .description('write a rotation ceremony file for root N+1 (roles not given keep their keys)')
    .option(
      '--previous-root <file>',
      'the current root metadata (default: fetched from the server)',
    )
    .option(
      '--root-key <pubfile>',
      'new root key set (repeat); keys left out are revoked',
      collect,
      [],
    )
    .option('--threshold <k>', 'new root threshold (with --root-key)')
    .option('--targets-key <pubfile>', 'new targets key set (repeat)', collect)
    .option('--targets-threshold <k>', 'new targets threshold (with --targets-key)')
    .option('--snapshot-key <pubfile>', 'new snapshot key', collect)
    .option('--timestamp-key <pubfile>', 'new timestamp key', collect)
    .option('--expires <when>', 'expiry of the new root (date or duration)', '365d')
    .option('--out <file>', 'ceremony file to write (never overwritten)', 'root-rotation.json');
  addServerOptions(prepare);
  addJsonOption(prepare).action(async (opts: PrepareOptions) => {
    if ((opts.rootKey ?? []).length > 0 && opts.threshold === undefined) {
      throw new CliError('USAGE_ERROR', '--root-key needs --threshold');
    }
    let previous: unknown;
    if (opts.previousRoot !== undefined) {
      previous = await readJsonFile(opts.previousRoot, 'previous root', 'INVALID_ARGUMENT');
    } else {
      const api = await createApiClient(run, opts, false);
      previous = JSON.parse(
        new TextDecoder().decode(await api.getBytes('/metadata/root.json')),
      ) as unknown;
    }
    const roles: Omit<RotateRootOptions, 'expires'> = {};
    const root = await changedRole(opts.rootKey ?? [], opts.threshold, 'root');
    const targets = await changedRole(opts.targetsKey ?? [], opts.targetsThreshold, 'targets');
    const snapshot = await changedRole(opts.snapshotKey ?? [], undefined, 'snapshot');
    const timestamp = await changedRole(opts.timestampKey ?? [], undefined, 'timestamp');
    if (root) roles.root = root;
    if (targets) roles.targets = targets;
    if (snapshot) roles.snapshot = snapshot;
    if (timestamp) roles.timestamp = timestamp;
    const { describeRootCeremony, rotateRootCeremony } = await import('@tufchain/keys');
    const ceremony = rotateRootCeremony(previous, {
      ...roles,
      expires: parseExpires(opts.expires),
    });
    await writeJsonFile(opts.out, ceremony, { overwrite: false });
    const status = describeRootCeremony(ceremony);
    const changes = rootRoleChanges(ceremony);
    emit(
      run,
      opts,
      { ceremonyFile: opts.out, status, roles: changes },
      `wrote ${opts.out}\n${ceremonyText(status, changes)}\nnext: old and new root holders run \`tufchain sign --role root ${opts.out} --key KEYFILE\`, then \`tufchain rotate-root upload ${opts.out}\``,
    );
  });

  const upload = rotate
    .command('upload')
    .description(
      'verify the rotation ceremony meets both thresholds and upload root N+1 to the server (admin token)',
    )
    .argument('<ceremony>', 'rotation ceremony file')
    .option('--save <file>', 'also write the new root metadata to this file');
  addServerOptions(upload);
  addJsonOption(upload).action(
    async (file: string, opts: JsonOption & ServerOptions & { save?: string }) => {
      const { finalizeRootCeremony } = await import('@tufchain/keys');
      const root = finalizeRootCeremony(
        await readJsonFile(file, 'ceremony file', 'MALFORMED_SIGNING_FILE'),
      );
      const bytes = new TextEncoder().encode(JSON.stringify(root));
      const api = await createApiClient(run, opts);
      const res = await api.put<{ version: number }>(
        '/api/v1/metadata/root',
        bytes,
        bytes.byteLength,
      );
      if (opts.save !== undefined) await writeJsonFile(opts.save, root, { overwrite: false });
      emit(
        run,
        opts,
        { version: res.version, ...(opts.save === undefined ? {} : { rootFile: opts.save }) },
        `root v${res.version} accepted by the server; snapshot and timestamp re-signed under it`,
      );
    },
  );
}
