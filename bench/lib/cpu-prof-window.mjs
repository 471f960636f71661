// Preload that profiles only a window of a process's life (bench/subgraph-cpu.ts, bench/guild.bench.ts): the first
// SIGUSR2 starts the profiler, the second stops it and writes <COS_CPU_PROF_DIR>/<pid>.cpuprofile. Start-up and
// seeding stay out of the profile. NODE_OPTIONS="--import /abs/bench/lib/cpu-prof-window.mjs" COS_CPU_PROF_DIR=/dir.
// COS_PROF_KIND=heap: V8's sampling heap profiler instead (every allocation site, including objects the scavenger or
// mark-compact already freed — what drives GC work), written as <pid>.heapprofile (Chrome DevTools: Memory → Load).
// COS_PROF_KIND=heap-survivors: only what outlived a scavenge (still alive, or freed by a mark-compact): the allocation
// sites of what the scavenger copies and promotes.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const dir = process.env.COS_CPU_PROF_DIR;
const heap = process.env.COS_PROF_KIND === 'heap' || process.env.COS_PROF_KIND === 'heap-survivors';
const survivorsOnly = process.env.COS_PROF_KIND === 'heap-survivors';
if (dir) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      if (heap) {
        session.post('HeapProfiler.enable');
        session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !survivorsOnly });
      } else {
        session.post('Profiler.enable');
        session.post('Profiler.setSamplingInterval', { interval: 1000 });
        session.post('Profiler.start');
      }
      return;
    }
    running = false;
    session.post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop', (err, res) => {
      if (!err && res?.profile) writeFileSync(`${dir}/${process.pid}.${heap ? 'heapprofile' : 'cpuprofile'}`, JSON.stringify(res.profile));
    });
  });
}
