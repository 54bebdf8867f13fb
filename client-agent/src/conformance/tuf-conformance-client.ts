/**
 * TUF conformance client-under-test (theupdateframework/tuf-conformance, CLIENT-CLI.md):
 *
 *   <client> --metadata-dir DIR init TRUSTED_ROOT
 *   <client> --metadata-dir DIR --metadata-url URL refresh
 *   <client> --metadata-dir DIR --metadata-url URL --target-name PATH [--target-name PATH...]
 *            --target-base-url URL --target-dir DIR download
 *
 * It runs the agent's own TUF side (tuf-js Updater + the agent's undici fetcher) and nothing
 * else: only in this mode is the on-chain check switched off. Exit code 0 on success, 1 on any
 * failure. Kept free of workspace imports so that plain `node` (type stripping) can run it.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Updater } from 'tuf-js';
import { defaultConfig } from '../config.js';
import { UndiciFetcher } from '../tuf/fetcher.js';
import { createDispatcher, releaseDispatcher } from '../util/http.js';

const USAGE = `usage:
  tuf-conformance-client --metadata-dir DIR init TRUSTED_ROOT
  tuf-conformance-client --metadata-dir DIR --metadata-url URL refresh
  tuf-conformance-client --metadata-dir DIR --metadata-url URL --target-name PATH... \\
      --target-base-url URL --target-dir DIR download`;

export async function runConformanceClient(
  argv: string[],
  log: (line: string) => void,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'metadata-dir': { type: 'string' },
      'metadata-url': { type: 'string' },
      'target-name': { type: 'string', multiple: true },
      'target-base-url': { type: 'string' },
      'target-dir': { type: 'string' },
      'days-in-future': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  const metadataDir = values['metadata-dir'];
  if (!metadataDir || !command) {
    log(USAGE);
    return 1;
  }
  if (command === 'init') {
    const trustedRoot = rest[0];
    if (!trustedRoot) {
      log(USAGE);
      return 1;
    }
    await mkdir(metadataDir, { recursive: true });
    await copyFile(trustedRoot, join(metadataDir, 'root.json'));
    log(`tufchain conformance client: initialized ${metadataDir}`);
    return 0;
  }
  const metadataBaseUrl = values['metadata-url'];
  if (!metadataBaseUrl || (command !== 'refresh' && command !== 'download')) {
    log(USAGE);
    return 1;
  }
  const cfg = { ...defaultConfig, fetchRetries: 0 };
  const dispatcher = createDispatcher(cfg);
  try {
    const targetDir = values['target-dir'];
    const targetBaseUrl = values['target-base-url'];
    const updater = new Updater({
      metadataDir,
      metadataBaseUrl,
      fetcher: new UndiciFetcher(cfg, dispatcher),
      ...(targetDir ? { targetDir } : {}),
      ...(targetBaseUrl ? { targetBaseUrl } : {}),
    });
    await updater.refresh();
    log('refresh: ok');
    if (command === 'refresh') return 0;
    const names = values['target-name'] ?? [];
    if (names.length === 0 || !targetDir || !targetBaseUrl) {
      log(USAGE);
      return 1;
    }
    await mkdir(targetDir, { recursive: true });
    for (const name of names) {
      const info = await updater.getTargetInfo(name);
      if (!info) {
        log(`download: no target ${name}`);
        return 1;
      }
      const cached = await updater.findCachedTarget(info);
      if (cached) {
        log(`download: ${name} is cached at ${cached}`);
        continue;
      }
      const path = await updater.downloadTarget(info);
      log(`download: ${name} -> ${path}`);
    }
    return 0;
  } catch (err) {
    log(
      `${command} failed: ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`,
    );
    return 1;
  } finally {
    await releaseDispatcher(dispatcher);
  }
}

if (import.meta.main) {
  runConformanceClient(process.argv.slice(2), (line) => process.stderr.write(`${line}\n`)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
