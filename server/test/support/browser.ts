import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/**
 * Debian's chromium for Playwright (playwright-core, whose own browser download cannot work
 * here): $CHROMIUM_PATH, `chromium` on PATH, or /usr/bin/chromium. Undefined when absent.
 */
export function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  try {
    const onPath = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
    if (onPath) return onPath;
  } catch {
    // not on PATH: try the Debian location
  }
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
}

/**
 * The chromium to drive, or undefined after saying why the browser tests are skipped. Under
 * CI=true a missing browser is an error: CI must run them (.ci/run installs chromium).
 */
export function chromiumOrSkip(what: string): string | undefined {
  const path = findChromium();
  if (path) return path;
  const why = `${what} needs chromium, which is not installed (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(why);
  console.warn(`skipped: ${why}`);
  return undefined;
}
