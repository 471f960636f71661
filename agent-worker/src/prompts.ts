import { readFileSync } from 'node:fs';
import type { Prompt } from './models/provider';

/**
 * Prompts are versioned files: `prompts/<kind>/<step>.v<N>.md`, with a `# system` and a `# user` section and
 * `{{name}}` placeholders. A prompt is never edited in place once runs used it: a change is a new version file, and
 * the step records the id (`<kind>/<step>@v<N>`) it ran with.
 */
const DIR = new URL('../prompts/', import.meta.url);
const cache = new Map<string, { system: string; user: string }>();

function load(id: string): { system: string; user: string } {
  const cached = cache.get(id);
  if (cached) return cached;
  const m = /^([a-z]+)\/([a-z-]+)@v(\d+)$/.exec(id);
  if (!m) throw new Error(`bad prompt id ${id} (want <kind>/<step>@v<N>)`);
  const text = readFileSync(new URL(`${m[1]}/${m[2]}.v${m[3]}.md`, DIR), 'utf8');
  const sections = text.split(/^# (system|user)\s*$/m);
  const system = sections[sections.indexOf('system') + 1]?.trim();
  const user = sections[sections.indexOf('user') + 1]?.trim();
  if (!system || !user || sections.indexOf('system') < 0 || sections.indexOf('user') < 0) {
    throw new Error(`prompt ${id} needs a "# system" and a "# user" section`);
  }
  const parsed = { system, user };
  cache.set(id, parsed);
  return parsed;
}

const fill = (template: string, input: Record<string, unknown>) =>
  template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = input[name];
    if (v === undefined || v === null) return '(none)';
    return typeof v === 'string' ? v : JSON.stringify(v);
  });

/** The prompt `id` filled with `input`. */
export function renderPrompt(id: string, input: Record<string, unknown>): Prompt {
  const { system, user } = load(id);
  return { id, system: fill(system, input), user: fill(user, input) };
}
