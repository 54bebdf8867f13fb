import { runAuditCli } from '../src/index.js';

process.exitCode = await runAuditCli(process.argv.slice(2), {
  stdout: (line) => process.stdout.write(line + '\n'),
  stderr: (line) => process.stderr.write(line + '\n'),
});
