// Loaded by bench/agent.ts into the bin/tufchain-agent process (NODE_OPTIONS=--import=...). It
// only observes: at exit it writes the process's peak RSS and CPU time, the duration of the update cycle that
// src/main.ts measures (User Timing), the entry module and the Node flags, as JSON, to the file
// named by TUFCHAIN_BENCH_PROBE_OUT. Plain JavaScript so that it loads without tsx.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';

const out = process.env['TUFCHAIN_BENCH_PROBE_OUT'];

/**
 * The process's own peak RSS in KiB. getrusage's maxRSS is not that on Linux: a process started
 * through fork/vfork and exec (the bin is a shell script that execs node) inherits, at exec, the
 * high-water mark of the memory it came from, i.e. the bench harness's RSS when that is larger
 * (it was in the vehicle round: 105-147 MiB reported for a primary whose own peak is ~87 MiB).
 * VmHWM in /proc/self/status is the current image's own.
 */
function peakRssKiB() {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}
if (out) {
  process.on('exit', () => {
    const cycle = performance.getEntriesByName('tufchain:update-cycle')[0];
    writeFileSync(
      out,
      JSON.stringify({
        entry: process.argv[1],
        execArgv: process.execArgv,
        maxRssKiB: peakRssKiB(),
        cycleMs: cycle ? cycle.duration : null,
        cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      }),
    );
  });
}
