#!/usr/bin/env node
/** The `tufchain` executable: the only place of the CLI that reads process.env. */
import { runCli } from './run.js';

const exitCode = await runCli(process.argv.slice(2), {
  env: {
    keyPassphrase: process.env.TUFCHAIN_KEY_PASSPHRASE,
    server: process.env.TUFCHAIN_SERVER,
    token: process.env.TUFCHAIN_TOKEN,
  },
  io: {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
    stderrRaw: (text) => process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY,
  },
  fetch: globalThis.fetch,
});
process.exitCode = exitCode;
