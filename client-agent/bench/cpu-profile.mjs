// Loaded by bench/agent.ts (NODE_OPTIONS=--import=...) into the primary and the secondaries when
// TUFCHAIN_BENCH_CPU_PROF_DIR is set: a V8 CPU profile of the whole process, written at exit as
// <dir>/<role>-<pid>.cpuprofile (open in Chrome DevTools or speedscope). Node refuses --cpu-prof in
// NODE_OPTIONS; the inspector's profiler, started from here, needs no change to the bin's flags.
// The in-process inspector session answers synchronously, so the profile is taken in 'exit'.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import process from 'node:process';

const dir = process.env['TUFCHAIN_BENCH_CPU_PROF_DIR'];
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  const role = process.argv[2] ?? 'node';
  process.on('exit', () => {
    session.post('Profiler.stop', (err, answer) => {
      if (err) return;
      writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(answer.profile));
    });
  });
}
