// Preload like cpu-prof-window.mjs, for allocations: the first SIGUSR2 starts V8's sampling heap profiler (every
// allocation site, including objects the scavenger or mark-compact already freed — what drives GC work), the second
// stops it and writes <COS_CPU_PROF_DIR>/<pid>.heapprofile (Chrome DevTools: Memory → Load).
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
      session.post('HeapProfiler.enable');
      session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    running = false;
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (!err && res?.profile) writeFileSync(`${dir}/${process.pid}.heapprofile`, JSON.stringify(res.profile));
    });
  });
}
