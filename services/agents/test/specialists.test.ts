import { describe, expect, it } from 'vitest';
import { findKeywords, proposePriority, SPECIALISTS, type StepData, type TaskSnapshot } from '../src/runner/specialists';

const task = (title: string, description: string | null = null): TaskSnapshot => ({
  id: '00000000-0000-4000-8000-00000000000a',
  title,
  description,
  priority: 'MEDIUM',
});

async function runAll(kind: keyof typeof SPECIALISTS, t: TaskSnapshot) {
  let data: StepData = {};
  const approvals: unknown[] = [];
  for (const step of SPECIALISTS[kind].steps) {
    const out = await step.run({ task: t, data, approval: approvals.length ? { approvalId: 'ap', reason: null } : null });
    data = { ...data, ...out.data };
    if (out.approval) approvals.push(out.approval);
  }
  return { data, approvals, result: SPECIALISTS[kind].result(data) };
}

describe('specialists', () => {
  it('triage proposes a priority from the task text', async () => {
    expect(proposePriority(findKeywords(task('Production outage in EU')))).toBe('URGENT');
    expect(proposePriority(findKeywords(task('Login bug', 'error 500')))).toBe('HIGH');
    expect(proposePriority(findKeywords(task('Fix typo on pricing page')))).toBe('LOW');
    expect(proposePriority(findKeywords(task('Quarterly planning')))).toBe('MEDIUM');
    const { result } = await runAll('TRIAGE', task('Checkout is down'));
    expect(result).toMatchObject({ proposedPriority: 'URGENT', previousPriority: 'MEDIUM' });
  });

  it('support drafts a reply and asks for approval before sending it', async () => {
    const { approvals, result, data } = await runAll('SUPPORT', task('Customer reports a bug'));
    expect(approvals).toEqual([{ action: 'support.sendReply', payload: { taskId: task('x').id, draft: data.draft } }]);
    expect(String(data.draft)).toContain('Customer reports a bug');
    expect(result).toMatchObject({ sent: true, approvalId: 'ap' });
  });

  it('every specialist is deterministic and has at least two steps', async () => {
    for (const kind of Object.keys(SPECIALISTS) as (keyof typeof SPECIALISTS)[]) {
      expect(SPECIALISTS[kind].steps.length).toBeGreaterThanOrEqual(2);
      const a = await runAll(kind, task('Renewal at risk', 'customer wants to cancel'));
      const b = await runAll(kind, task('Renewal at risk', 'customer wants to cancel'));
      expect(a.result).toEqual(b.result);
    }
  });
});
