import { describe, expect, it } from 'vitest';
import { appliedAction, checkApprovalRequest, MAX_APPROVAL_PAYLOAD_BYTES } from '../src/approval-actions';

describe('approval actions', () => {
  it('checks names, sizes and the payload of actions the platform applies', () => {
    expect(checkApprovalRequest('support.sendReply', { draft: 'Hi' })).toBeNull();
    expect(checkApprovalRequest('crm.updateDeal', { anything: [1, 2] })).toBeNull();
    expect(checkApprovalRequest('support.sendReply', { draft: '  ' })).toMatchObject({ field: 'payload' });
    expect(checkApprovalRequest('task.setPriority', { priority: 'SOON' })).toMatchObject({ field: 'payload' });
    for (const bad of ['', 'send', 'Support.send', 'a..b', 'a.b c', `a.${'b'.repeat(70)}`]) {
      expect(checkApprovalRequest(bad, {}), bad).toMatchObject({ field: 'action' });
    }
    expect(checkApprovalRequest('x.y', { big: 'z'.repeat(MAX_APPROVAL_PAYLOAD_BYTES) })).toMatchObject({ field: 'payload' });
  });

  it('names the effect of an approved action, or none', () => {
    expect(appliedAction('task.setPriority', { priority: 'HIGH' })).toEqual({ action: 'task.setPriority', payload: { priority: 'HIGH' } });
    expect(appliedAction('support.sendReply', { draft: 'Hello', taskId: 't' })).toMatchObject({ payload: { draft: 'Hello' } });
    expect(appliedAction('crm.updateDeal', {})).toBeNull();
    expect(appliedAction('task.comment', { body: '' })).toBeNull();
  });
});
