// Preload that profiles only a window of a process's life (bench/subgraph-cpu.ts): the first SIGUSR2 starts the
// V8 CPU profiler, the second stops it and writes <COS_CPU_PROF_DIR>/<pid>.cpuprofile. Start-up and seeding stay
// out of the profile. NODE_OPTIONS="--import /abs/bench/lib/cpu-prof-window.mjs" COS_CPU_PROF_DIR=/dir.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const dir = process.env.COS_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable');
      session.post('Profiler.setSamplingInterval', { interval: 1000 });
      session.post('Profiler.start');
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (!err && res?.profile) writeFileSync(`${dir}/${process.pid}.cpuprofile`, JSON.stringify(res.profile));
    });
  });
}
