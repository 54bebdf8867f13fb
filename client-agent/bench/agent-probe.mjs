// Loaded by bench/agent.ts into the bin/tufchain-agent process (NODE_OPTIONS=--import=...). It
// only observes: at exit it writes the process's peak RSS and CPU time, the duration of the update cycle that
// src/main.ts measures (User Timing), the entry module and the Node flags, as JSON, to the file
// named by TUFCHAIN_BENCH_PROBE_OUT. Plain JavaScript so that it loads without tsx.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';

const out = process.env['TUFCHAIN_BENCH_PROBE_OUT'];
if (out) {
  process.on('exit', () => {
    const cycle = performance.getEntriesByName('tufchain:update-cycle')[0];
    writeFileSync(
      out,
      JSON.stringify({
        entry: process.argv[1],
        execArgv: process.execArgv,
        maxRssKiB: process.resourceUsage().maxRSS,
        cycleMs: cycle ? cycle.duration : null,
        cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      }),
    );
  });
}
