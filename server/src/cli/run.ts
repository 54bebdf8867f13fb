import { Command, CommanderError } from 'commander';
import { registerAuditCommand } from './commands/audit.js';
import { registerBundleCommand } from './commands/bundle.js';
import { registerCampaignCommand } from './commands/campaign.js';
import { registerDirectorCommand } from './commands/director.js';
import { registerExportStaticCommand } from './commands/export-static.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerMinimumVersionCommand } from './commands/minimum-version.js';
import { registerMonitorCommand } from './commands/monitor.js';
import { registerPublishCommand } from './commands/publish.js';
import { registerRepoCommand } from './commands/repo-init.js';
import { registerRevokeCommand } from './commands/revoke.js';
import { registerRotateRootCommand } from './commands/rotate-root.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSignCommand } from './commands/sign.js';
import { registerStatusCommand } from './commands/status.js';
import { registerSupplierCommand } from './commands/supplier.js';
import { registerTargetsCommand } from './commands/targets-add.js';
import { registerTokenCommand } from './commands/token.js';
import type { CliContext, CliRun } from './context.js';
import { describeError, EXIT } from './error.js';

export function createProgram(run: CliRun): Command {
  const program = new Command('tufchain')
    .description(
      'tufchain: OEM release tooling and auditor for a TUF repository whose releases are logged on chain.\n' +
        'Exit codes: 0 ok, 1 refused / verification failed / finding, 2 usage error, 3 could not run (network, files).',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => run.io.stdout(s.replace(/\n$/, '')),
      writeErr: (s) => run.io.stderr(s.replace(/\n$/, '')),
    })
    .showHelpAfterError('(add --help for usage)')
    .allowExcessArguments(false);
  registerServeCommand(program, run);
  registerKeysCommand(program, run);
  registerRepoCommand(program, run);
  registerSignCommand(program, run);
  registerTargetsCommand(program, run);
  registerPublishCommand(program, run);
  registerRevokeCommand(program, run);
  registerMinimumVersionCommand(program, run);
  registerRotateRootCommand(program, run);
  registerSupplierCommand(program, run);
  registerStatusCommand(program, run);
  registerAuditCommand(program, run);
  registerMonitorCommand(program, run);
  registerBundleCommand(program, run);
  registerTokenCommand(program, run);
  registerDirectorCommand(program, run);
  registerCampaignCommand(program, run);
  registerExportStaticCommand(program, run);
  return program;
}

/** Runs the command line; returns the process exit code. Never throws. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const run: CliRun = { ...ctx, exitCode: EXIT.OK };
  const wantsJson = argv.includes('--json');
  const program = createProgram(run);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return run.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.OK;
      run.io.stderr(`tufchain: error USAGE_ERROR (${error.code})`);
      if (wantsJson) {
        run.io.stdout(
          JSON.stringify(
            { error: { code: 'USAGE_ERROR', reason: error.code, message: error.message } },
            null,
            2,
          ),
        );
      }
      return EXIT.USAGE;
    }
    const report = describeError(error);
    if (wantsJson) {
      run.io.stdout(
        JSON.stringify(
          {
            error: {
              code: report.code,
              message: report.message,
              ...(report.status === undefined ? {} : { status: report.status }),
            },
          },
          null,
          2,
        ),
      );
    }
    run.io.stderr(
      `tufchain: error ${report.code}${report.status === undefined ? '' : ` (HTTP ${report.status})`}: ${report.message}`,
    );
    return report.exitCode;
  }
}
