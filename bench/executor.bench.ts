/**
 * The native executor alone, in one process, on the Guild workload (bench/guild): how much CPU one answer costs in
 * plan steps, merging, shaping, serialising and parsing the subgraph answers, without HTTP on either side.
 *
 * - The subgraph answers are real: the Guild subgraphs (bench/guild/subgraphs.ts) run in this process once, over
 *   loopback, while the first answer is built; their texts are kept by request body and replayed afterwards. Each
 *   replayed call still serialises its request (the body is the replay key, as the data source serialises it for the
 *   wire) and parses the answer text (JSON.parse, as the data source does).
 * - Each answer is checked byte for byte against the suite's expected answer, before and after the timed rounds.
 * - Timing: BENCH_EXECUTOR_ROUNDS rounds (5) of BENCH_EXECUTOR_ITERATIONS answers (2000) each, CONCURRENCY answers in
 *   flight at a time (50, as the Guild load: the in-flight data is what the scavenger copies); CPU time of the process
 *   (user + system) per answer, median and min of the rounds, and the heap's young-generation collections.
 *
 * What this leaves out (the Guild bench has it): HTTP in (yoga, whatwg-node) and out (undici), the entity batcher's
 * merging across branches, authorization, metrics. A figure here is a component's cost, not a gateway's.
 */
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import { Kind, parse, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { compilePlan, typeMatcher, type RunState, type SubgraphCall } from '../gateway/src/execution/executor/plan';
import { planningSupergraph } from '../gateway/src/execution/executor/planning-supergraph';
import { createAnswerStringifier } from '../gateway/src/execution/executor/serialize';
import { compileShape, shapeRoot } from '../gateway/src/execution/executor/shape';
import { pinOneByteNames } from '../gateway/src/execution/supergraph';
import { loadGuildFixtures } from './guild/data';
import { startGuildSubgraphs } from './guild/subgraphs';
import { composeGuildSupergraph } from './guild/supergraph';

const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const ROUNDS = num('BENCH_EXECUTOR_ROUNDS', 5);
const ITERATIONS = num('BENCH_EXECUTOR_ITERATIONS', 2000);
const CONCURRENCY = num('BENCH_EXECUTOR_CONCURRENCY', 50);

async function main() {
  // graphql-js reads NODE_ENV once, when it loads (development mode checks every instanceof): run as the gateway runs.
  if (process.env.NODE_ENV !== 'production') {
    const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
    process.exit(r.status ?? 1);
  }
  const fixtures = loadGuildFixtures();
  const subgraphs = await startGuildSubgraphs({ memo: true });
  const sdl = composeGuildSupergraph(subgraphs.urls);
  pinOneByteNames(sdl);
  const planning = planningSupergraph(sdl);
  const supergraph = Supergraph.build(planning.sdl);
  const planner = new QueryPlanner(supergraph);
  const apiSchema = supergraph.apiSchema();
  const schema = apiSchema.toGraphQLJSSchema();
  const document = parse(fixtures.query);
  const plan = planner.buildQueryPlan(operationFromDocument(apiSchema, document, {}));
  const step = compilePlan(plan, typeMatcher(supergraph.schema.toGraphQLJSSchema()), planning.hidden);
  if (!step) throw new Error('the TestQuery planned to no fetch');
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const shape = compileShape(schema, operation, fragments, {});
  const stringify = createAnswerStringifier();

  // Recording: real HTTP to the Guild subgraphs; replay: the same texts by request body.
  const recorded = new Map<string, string>();
  const record: SubgraphCall = async (service, request) => {
    const body = JSON.stringify(request);
    const res = await fetch(subgraphs.urls[service as keyof typeof subgraphs.urls], {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    recorded.set(`${service}\n${body}`, text);
    return JSON.parse(text) as Awaited<ReturnType<SubgraphCall>>;
  };
  const replay: SubgraphCall = async (service, request) => {
    const text = recorded.get(`${service}\n${JSON.stringify(request)}`);
    if (text === undefined) throw new Error(`no recorded answer of ${service} for this request`);
    return JSON.parse(text) as Awaited<ReturnType<SubgraphCall>>;
  };

  const answer = async (call: SubgraphCall): Promise<string> => {
    const state: RunState = { call, variables: {}, coerced: {}, data: {}, errors: [] };
    await step(state, { path: [], objects: [state.data] });
    if (state.errors.length) throw new Error(`subgraph errors: ${state.errors.map((e) => e.message).join('; ')}`);
    const run = { schema, errors: [], introspection: undefined };
    const data = shapeRoot(run, shape, state.data);
    if (run.errors.length) throw new Error(`value completion errors: ${run.errors.length}`);
    return stringify(data);
  };

  const check = (text: string, when: string) => {
    if (text !== fixtures.expectedText) throw new Error(`${when}: the answer differs from the suite's expected answer (${text.length} vs ${fixtures.expectedText.length} bytes)`);
  };
  check(await answer(record), 'recording');
  await subgraphs.close();
  check(await answer(replay), 'replay');

  let scavenges = 0;
  let scavengeMs = 0;
  let majors = 0;
  let majorMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number }; kind?: number }).detail?.kind ?? (e as unknown as { kind?: number }).kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
        scavenges++;
        scavengeMs += e.duration;
      } else {
        majors++;
        majorMs += e.duration;
      }
    }
  });
  gc.observe({ entryTypes: ['gc'] });

  const round = async () => {
    let started = 0;
    const worker = async () => {
      while (started < ITERATIONS) {
        started++;
        await answer(replay);
      }
    };
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const cpu = process.cpuUsage(cpu0);
    return { cpuUs: (cpu.user + cpu.system) / ITERATIONS, wallUs: ((performance.now() - t0) * 1000) / ITERATIONS };
  };
  await round(); // warm-up
  await new Promise((r) => setTimeout(r, 10));
  scavenges = scavengeMs = majors = majorMs = 0;
  // With bench/lib/cpu-prof-window.mjs preloaded (COS_CPU_PROF_DIR), the timed rounds alone are profiled.
  const profiling = !!process.env.COS_CPU_PROF_DIR;
  if (profiling) {
    process.kill(process.pid, 'SIGUSR2'); // the handler runs on a later turn of the event loop
    await new Promise((r) => setTimeout(r, 100));
  }
  const rounds: { cpuUs: number; wallUs: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await round());
  if (profiling) process.kill(process.pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, profiling ? 2000 : 10));
  gc.disconnect();
  check(await answer(replay), 'after the timed rounds');

  const sorted = rounds.map((r) => r.cpuUs).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const total = ROUNDS * ITERATIONS;
  console.log(`### Native executor alone, Guild TestQuery (${fixtures.expectedText.length}-byte answer, ${recorded.size} subgraph answers replayed per answer)

${ROUNDS} rounds × ${ITERATIONS} answers, ${CONCURRENCY} in flight; CPU = user + system of this process per answer.

| CPU µs/answer (median) | min | max | wall µs/answer (median round) | scavenges per 1000 answers | scavenge ms per answer | mark-compacts | mark-compact ms per answer |
|---|---|---|---|---|---|---|---|
| ${median.toFixed(0)} | ${sorted[0]!.toFixed(0)} | ${sorted[sorted.length - 1]!.toFixed(0)} | ${rounds.find((r) => r.cpuUs === median)!.wallUs.toFixed(0)} | ${((scavenges / total) * 1000).toFixed(1)} | ${(scavengeMs / total).toFixed(3)} | ${majors} | ${(majorMs / total).toFixed(3)} |
`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
