// Run by bench/delta.ts with bin/tufchain-agent's Node flags: one install into slot B of the slot
// store in argv[2] (slot A holds the base), from the delta when argv[3] names one (a JSON
// DeltaPlan), else from the full image; argv[4] is the install's JSON (url, expected). Prints
// { ms, path, networkBytes, maxRssKiB } with the process's own peak RSS (VmHWM). Plain JavaScript
// on the compiled dist/ so that it starts without tsx, as the agent does.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { defaultConfig } from '../dist/config.js';
import { installIntoSlot } from '../dist/install/delta-install.js';
import { FileSlotStore } from '../dist/slots/ab-slots.js';
import { createDispatcher } from '../dist/util/http.js';

const [dir, planJson, installJson] = process.argv.slice(2);
const plan = planJson === '-' ? undefined : JSON.parse(planJson);
const { url, expected } = JSON.parse(installJson);
const config = { ...defaultConfig, sha512Worker: true };
const dispatcher = createDispatcher(config);
const slots = new FileSlotStore(dir);
const started = performance.now();
const result = await installIntoSlot({
  url,
  slots,
  slot: 'b',
  expected,
  dispatcher,
  config,
  delta: plan,
});
const ms = performance.now() - started;
await dispatcher.close();
const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(
  JSON.stringify({
    ms,
    path: result.path,
    fallback: result.fallback ?? null,
    networkBytes: result.networkBytes,
    maxRssKiB: hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS,
  }),
);
