import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('the tracing SDK', () => {
  // A fresh process, so that nothing else has loaded the SDK: what a process with tracing off loads.
  const probe = (script: string) =>
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.join(import.meta.dirname, '..'), encoding: 'utf8' }).trim();

  it('is loaded only when tracing is on', () => {
    const out = probe(`
      import { createRequire } from 'node:module';
      import { initTracing } from './src/tracing.ts';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /@opentelemetry[\\\\/]sdk-trace-(base|node)/.test(k)).length > 0;
      const off = initTracing({ service: 'probe' });
      const whenOff = loaded();
      const on = initTracing({ service: 'probe', exporter: { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} } });
      console.log(JSON.stringify({ off: off.enabled, whenOff, on: on.enabled, whenOn: loaded() }));
      await on.shutdown();
    `);
    expect(JSON.parse(out.split('\n').at(-1)!)).toEqual({ off: false, whenOff: false, on: true, whenOn: true });
  });
});
