import type { Command } from 'commander';
import { loadServeConfig, serveSettings } from '../../serve-config.js';
import { addJsonOption, type CliRun, type JsonOption } from '../context.js';

interface ServeOptions extends JsonOption {
  config: string;
  check?: boolean;
}

/** The parts of the daemon a config turns on, for `serve --check`. */
function features(env: Record<string, string | undefined>): Record<string, boolean> {
  return {
    postgres: Boolean(env.DATABASE_URL),
    transparencyLog: Boolean(env.TUFCHAIN_LOG_NOTE_KEY_FILE),
    anchoring: Boolean(env.TUFCHAIN_LOG_OPERATOR_KEY_FILE),
    director: Boolean(env.TUFCHAIN_DIRECTOR_TARGETS_KEY_FILES),
    monitor: Boolean(env.TUFCHAIN_MONITOR_EXPECTATIONS_FILE),
    vehicleEnrollment: Boolean(env.TUFCHAIN_VEHICLE_CA_KEY_FILE),
    onlineTargetsKey: Boolean(env.TUFCHAIN_TARGETS_KEY_FILES),
  };
}

export function registerServeCommand(program: Command, run: CliRun): void {
  const cmd = program
    .command('serve')
    .description(
      'run the update server daemon from one JSON config file; each setting is also an environment variable, which wins over the file (server/README.md, "Running the server")',
    )
    .requiredOption('--config <file>', 'the config file (relative paths in it are relative to it)')
    .option('--check', 'check the file and the files it names, print what it turns on, and exit')
    .addHelpText(
      'after',
      `\nSettings and their variables:\n${serveSettings()
        .map(([key, name]) => `  ${key.padEnd(28)} ${name}`)
        .join('\n')}`,
    );
  addJsonOption(cmd).action(async (opts: ServeOptions) => {
    const env = loadServeConfig(opts.config, run.env.daemon ?? {});
    if (opts.check) {
      const on = features(env);
      if (opts.json) {
        run.io.stdout(JSON.stringify({ config: opts.config, ok: true, features: on }, null, 2));
      } else {
        run.io.stdout(`config OK: ${opts.config}`);
        for (const [name, enabled] of Object.entries(on))
          run.io.stdout(`  ${name.padEnd(18)} ${enabled ? 'on' : 'off'}`);
      }
      return;
    }
    const { main } = await import('../../main.js');
    await main(env);
    // The daemon runs until SIGTERM or SIGINT, whose handlers (main.ts) close it and exit.
    await new Promise<never>(() => undefined);
  });
}
