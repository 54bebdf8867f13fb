import type { Command } from 'commander';
import {
  addJsonOption,
  type CliRun,
  emit,
  type JsonOption,
  parseExpires,
  readJsonFile,
  collect,
} from '../context.js';
import { CliError } from '../error.js';
import { writeFileAtomic, writeJsonFile } from '../files.js';
import { readPublicKeyFile } from '../key-input.js';
import { ceremonyText, roleKeys, rootRoleChanges } from '../root-ceremony.js';
import type { TargetsSigningFile } from '../targets-signing.js';

interface InitOptions extends JsonOption {
  rootKey?: string[];
  threshold: string;
  targetsKey?: string[];
  targetsThreshold: string;
  snapshotKey?: string[];
  timestampKey?: string[];
  expires: string;
  out: string;
}

export function registerRepoCommand(program: Command, run: CliRun): void {
  const repo = program.command('repo').description('offline root ceremony for a new repository');

  const init = repo
    .command('init')
    .description(
      'start the offline root ceremony: write root v1 (unsigned) for k-of-n root holders to sign with `tufchain sign --role root`',
    )
    .option(
      '--root-key <pubfile>',
      'public key PEM of a root holder (repeat for each holder)',
      collect,
      [],
    )
    .requiredOption('--threshold <k>', 'root signatures required (k of the n root keys)')
    .option('--targets-key <pubfile>', 'public key PEM of a targets key (repeat)', collect)
    .option('--targets-threshold <k>', 'targets signatures required', '1')
    .option(
      '--snapshot-key <pubfile>',
      "public key PEM of the server's online snapshot key",
      collect,
      [],
    )
    .option(
      '--timestamp-key <pubfile>',
      "public key PEM of the server's online timestamp key",
      collect,
      [],
    )
    .option('--expires <when>', 'root expiry: a date (2027-06-30) or a duration (365d)', '365d')
    .option('--out <file>', 'ceremony file to write (never overwritten)', 'root-ceremony.json');
  addJsonOption(init).action(async (opts: InitOptions) => {
    const { describeRootCeremony, initRootCeremony } = await import('@tufchain/keys');
    const ceremony = initRootCeremony({
      root: await roleKeys(opts.rootKey ?? [], opts.threshold, 'root'),
      targets: await roleKeys(opts.targetsKey ?? [], opts.targetsThreshold, 'targets'),
      snapshot: await roleKeys(opts.snapshotKey ?? [], '1', 'snapshot'),
      timestamp: await roleKeys(opts.timestampKey ?? [], '1', 'timestamp'),
      expires: parseExpires(opts.expires),
    });
    await writeJsonFile(opts.out, ceremony, { overwrite: false });
    const status = describeRootCeremony(ceremony);
    const roles = rootRoleChanges(ceremony);
    emit(
      run,
      opts,
      { ceremonyFile: opts.out, status, roles },
      `wrote ${opts.out}\n${ceremonyText(status, roles)}\nnext: each root holder runs \`tufchain sign --role root ${opts.out} --key KEYFILE\`, then \`tufchain repo finalize ${opts.out}\``,
    );
  });

  const status = repo
    .command('status')
    .description('verify every signature in a root ceremony file and show who still has to sign')
    .argument('<ceremony>', 'ceremony file');
  addJsonOption(status).action(async (file: string, opts: JsonOption) => {
    const { describeRootCeremony } = await import('@tufchain/keys');
    const ceremony = await readJsonFile(file, 'ceremony file', 'MALFORMED_SIGNING_FILE');
    const st = describeRootCeremony(ceremony);
    const roles = rootRoleChanges(ceremony);
    if (!st.complete) run.exitCode = 1;
    emit(run, opts, { status: st, roles }, ceremonyText(st, roles));
  });

  const finalize = repo
    .command('finalize')
    .description(
      'end the ceremony: verify the thresholds as a TUF client would and write {version}.root.json, the trust anchor',
    )
    .argument('<ceremony>', 'ceremony file')
    .option('--out <file>', 'root metadata file to write (default: <version>.root.json)');
  addJsonOption(finalize).action(async (file: string, opts: JsonOption & { out?: string }) => {
    const { finalizeRootCeremony } = await import('@tufchain/keys');
    const root = finalizeRootCeremony(
      await readJsonFile(file, 'ceremony file', 'MALFORMED_SIGNING_FILE'),
    );
    const version = root.signed.version as number;
    const out = opts.out ?? `${version}.root.json`;
    const bytes = JSON.stringify(root);
    await writeFileAtomic(out, bytes, { overwrite: false });
    emit(
      run,
      opts,
      { rootFile: out, version, bytes: Buffer.byteLength(bytes) },
      `wrote ${out} (root v${version}, ${Buffer.byteLength(bytes)} bytes): provision it into vehicles and auditors as the trusted root; the server bootstraps from it (TUFCHAIN_ROOT_FILE=${out})`,
    );
  });

  const targetsV1 = repo
    .command('targets-v1')
    .description(
      'offline targets only: write targets v1 (empty) for the targets holders to sign with `tufchain sign --role targets`; the server bootstraps with it',
    )
    .requiredOption('--root <file>', 'the finalized root (1.root.json) that names the targets keys')
    .option('--expires <when>', 'expiry of targets v1 (date or duration)', '90d')
    .option(
      '--bins-key <file>',
      "public key (PEM) of the server's online bins key (default: root's snapshot key, the server's default)",
    )
    .option('--no-bins', 'a flat repository: no TAP 15 bins; every release is then signed offline')
    .option(
      '--out <file>',
      'targets signing file to write (never overwritten)',
      'targets-ceremony.json',
    );
  addJsonOption(targetsV1).action(
    async (
      opts: JsonOption & {
        root: string;
        expires: string;
        out: string;
        bins: boolean;
        binsKey?: string;
      },
    ) => {
      const { Metadata, MetadataKind, Targets } = await import('@tufjs/models');
      const signing = await import('../targets-signing.js');
      const rootJson = await readJsonFile(opts.root, 'root', 'INVALID_ARGUMENT');
      let root;
      try {
        root = Metadata.fromJSON(MetadataKind.Root, rootJson as never);
      } catch (error) {
        throw new CliError('INVALID_ARGUMENT', `${opts.root} is not TUF root metadata`, {
          cause: error,
        });
      }
      const expires = parseExpires(opts.expires)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
      let targets = new Metadata(
        new Targets({ version: 1, specVersion: root.signed.specVersion, expires, targets: {} }),
      );
      if (opts.bins) {
        // Releases then go into the online hashed bins; this offline role only delegates.
        const { buildTargets, buildTopDelegations } = await import('../../tuf/layout.js');
        let binsKey;
        if (opts.binsKey) {
          const info = await readPublicKeyFile(opts.binsKey);
          binsKey = { keyId: info.keyId, publicKey: info.publicKey };
        } else {
          const keyId = root.signed.roles['snapshot']?.keyIDs[0];
          const key = keyId ? root.signed.keys[keyId] : undefined;
          if (!keyId || !key) throw new CliError('INVALID_ARGUMENT', 'root names no snapshot key');
          binsKey = { keyId, publicKey: key.toJSON() as never };
        }
        targets = buildTargets({
          version: 1,
          expires,
          targets: {},
          delegations: buildTopDelegations({ binsKeys: [binsKey], suppliers: [] }),
        });
      }
      const file: TargetsSigningFile = {
        format: signing.TARGETS_SIGNING_FORMAT,
        server: '',
        root: root.toJSON(),
        previous: null,
        targets: targets.toJSON(),
      };
      const status = signing.targetsSigningStatus(
        signing.loadSigningFile(JSON.parse(JSON.stringify(file))),
      );
      await writeJsonFile(opts.out, file, { overwrite: false });
      emit(
        run,
        opts,
        { signingFile: opts.out, status },
        `wrote ${opts.out}\n${signing.targetsStatusText(status)}\nnext: each targets holder runs \`tufchain sign --role targets ${opts.out} --key KEYFILE\`, then \`tufchain repo finalize-targets ${opts.out}\``,
      );
    },
  );

  const finalizeTargets = repo
    .command('finalize-targets')
    .description(
      'check the targets holders reached the threshold and write the signed {version}.targets.json for the server bootstrap',
    )
    .argument('<file>', 'targets signing file (from repo targets-v1)')
    .option('--root <file>', 'the root you trust; the file must carry it')
    .option('--out <file>', 'targets metadata file to write (default: <version>.targets.json)');
  addJsonOption(finalizeTargets).action(
    async (file: string, opts: JsonOption & { root?: string; out?: string }) => {
      const { Metadata, MetadataKind } = await import('@tufjs/models');
      const signing = await import('../targets-signing.js');
      const loaded = signing.loadSigningFile(
        await readJsonFile(file, 'targets signing file', 'MALFORMED_SIGNING_FILE'),
      );
      const trusted =
        opts.root === undefined
          ? undefined
          : Metadata.fromJSON(
              MetadataKind.Root,
              (await readJsonFile(opts.root, 'trusted root', 'INVALID_ARGUMENT')) as never,
            );
      const status = signing.targetsSigningStatus(loaded, trusted);
      if (!status.complete) {
        throw new CliError(
          'THRESHOLD_NOT_MET',
          `targets v${status.version} has ${status.signed.length} of ${status.threshold} required signatures`,
        );
      }
      const out = opts.out ?? `${status.version}.targets.json`;
      const bytes = signing.targetsBytes(loaded.targets);
      await writeFileAtomic(out, bytes, { overwrite: false });
      emit(
        run,
        opts,
        { targetsFile: out, version: status.version, bytes: bytes.byteLength },
        `wrote ${out} (targets v${status.version}, ${bytes.byteLength} bytes, ${status.signed.length} of ${status.threshold} signatures)`,
      );
    },
  );
}
