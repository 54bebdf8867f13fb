#!/usr/bin/env node
/** The `tufchain` executable: the only place of the CLI that reads process.env. */
import { runCli } from './run.js';

/** Reads a line from the terminal in raw mode, echoing nothing. */
function promptSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise((resolve, reject) => {
    let secret = '';
    const done = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(secret);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003')
          return done(Object.assign(new Error('interrupted'), { code: 'INTERRUPTED' }));
        if (ch === '\u007f' || ch === '\b') secret = secret.slice(0, -1);
        else secret += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Aborted on SIGINT or SIGTERM; the handlers exist only for commands that ask for them. */
function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}

const exitCode = await runCli(process.argv.slice(2), {
  env: {
    keyPassphrase: process.env.TUFCHAIN_KEY_PASSPHRASE,
    server: process.env.TUFCHAIN_SERVER,
    token: process.env.TUFCHAIN_TOKEN,
    daemon: process.env,
  },
  io: {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
    stderrRaw: (text) => process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY,
  },
  fetch: globalThis.fetch,
  promptSecret: process.stdin.isTTY && process.stderr.isTTY ? promptSecret : undefined,
  stopSignal,
});
process.exitCode = exitCode;
