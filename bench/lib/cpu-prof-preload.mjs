// Preload for profiling a process started through tsx (NODE_OPTIONS refuses --cpu-prof):
// NODE_OPTIONS="--import /abs/bench/lib/cpu-prof-preload.mjs" COS_CPU_PROF_DIR=/dir. Writes <dir>/<pid>.cpuprofile at exit.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const dir = process.env.COS_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // inspector Session.post dispatches synchronously on the main thread, so this completes inside 'exit'.
    session.post('Profiler.stop', (err, res) => {
      if (!err && res?.profile) writeFileSync(`${dir}/${process.pid}.cpuprofile`, JSON.stringify(res.profile));
    });
  });
}
