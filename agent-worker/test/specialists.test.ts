import { describe, expect, it } from 'vitest';
import { AGENT_KINDS } from '@cos/events';
import { createRulesProvider } from '../src/models/rules';
import { renderPrompt } from '../src/prompts';
import { findKeywords, proposePriority, SPECIALISTS } from '../src/specialists';

const task = { id: 't1', title: 'Checkout is down for EU customers', description: 'error 500 since the deploy', priority: 'MEDIUM', customerId: null };

describe('specialists', () => {
  it('every kind has steps, and every model step has a versioned prompt file that renders', () => {
    for (const kind of AGENT_KINDS) {
      const s = SPECIALISTS[kind];
      expect(s.steps.length, kind).toBeGreaterThan(0);
      for (const step of s.steps) {
        if (step.type !== 'model') continue;
        expect(step.prompt).toMatch(new RegExp(`^${kind.toLowerCase()}/[a-z-]+@v\\d+$`));
        const p = renderPrompt(step.prompt, step.input({ task, data: {}, approval: null }));
        expect(p.system.length, step.prompt).toBeGreaterThan(50);
        expect(p.user).toContain(task.title);
        expect(p.user).not.toMatch(/\{\{\w+\}\}/);
      }
    }
  });

  it('the rules answer every model step in the step’s shape, deterministically', async () => {
    const rules = createRulesProvider();
    for (const kind of AGENT_KINDS) {
      for (const step of SPECIALISTS[kind].steps) {
        if (step.type !== 'model') continue;
        const input = step.input({ task, data: { summary: 's', severity: 'URGENT' }, approval: null });
        const req = { prompt: renderPrompt(step.prompt, input), input, tools: [], output: step.output, rules: step.rules };
        const a = await rules.complete(req);
        const b = await rules.complete(req);
        expect(a.output, `${kind}/${step.name}`).toEqual(b.output);
        expect(a.usage.modelCalls).toBe(0);
      }
    }
  });

  it('TRIAGE keeps the keyword rules of the earlier in-service specialists', () => {
    expect(proposePriority(findKeywords('checkout is down'))).toBe('URGENT');
    expect(proposePriority(findKeywords('a bug in the invoice'))).toBe('HIGH');
    expect(proposePriority(findKeywords('typo on the pricing page'))).toBe('LOW');
    expect(proposePriority(findKeywords('plan the offsite'))).toBe('MEDIUM');
  });

  it('SUPPORT asks for support.sendReply with the draft, and only then confirms the posted reply', () => {
    const steps = SPECIALISTS.SUPPORT.steps;
    const ask = steps.findIndex((s) => s.type === 'approval');
    expect(steps[ask]).toMatchObject({ action: 'support.sendReply' });
    expect(steps[ask - 1]).toMatchObject({ type: 'model', name: 'draft-reply' });
    expect(steps[ask + 1]).toMatchObject({ type: 'tool', name: 'confirm-posted' });
  });
});
