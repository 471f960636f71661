import { describe, expect, it } from 'vitest';
import { backoffFor, dlqSubjectFor, durableName, headerValue, streamConfigs, streamNames, subjectFor } from '../src';

const org = '5b0c3a57-8d1e-4a0e-9f3c-0d9e8f7a6b5c';

describe('subjects', () => {
  it('builds tenant-first event subjects', () => {
    expect(subjectFor('cos', 'tasks', { orgId: org, streamType: 'Task', type: 'TaskAssigned' })).toBe(`cos.${org}.tasks.Task.TaskAssigned`);
  });

  it('refuses tokens that would change the subject shape', () => {
    expect(() => subjectFor('cos', 'tasks', { orgId: org, streamType: 'Task.x', type: 'T' })).toThrow(/streamType/);
    expect(() => subjectFor('cos', 'tasks', { orgId: '*', streamType: 'Task', type: 'T' })).toThrow(/orgId/);
    expect(() => subjectFor('cos', 'tasks', { orgId: org, streamType: 'Task', type: 'a b' })).toThrow(/type/);
    expect(() => subjectFor('cos', 'tasks', { orgId: org, streamType: 'Task', type: '' })).toThrow(/type/);
  });

  it('names streams, durables and dead-letter subjects', () => {
    expect(streamNames('cos')).toEqual({ events: 'COS_EVENTS', dlq: 'COS_DLQ' });
    expect(streamConfigs('cos').map((c) => c.subjects)).toEqual([['cos.>'], ['cosdlq.>']]);
    expect(durableName('customers', 'on-task-events')).toBe('customers-on-task-events');
    expect(() => durableName('customers', 'a.b')).toThrow();
    expect(dlqSubjectFor('cos', 'customers', 'on-task-events')).toBe('cosdlq.customers.on-task-events');
  });

  it('picks the backoff for a delivery count and repeats the last value', () => {
    const b = [200, 1000, 5000];
    expect([1, 2, 3, 4, 9].map((n) => backoffFor(b, n))).toEqual([200, 1000, 5000, 5000, 5000]);
    expect(backoffFor([], 3)).toBe(0);
  });

  it('makes header values single-line, printable and bounded', () => {
    expect(headerValue('boom\r\nat line 2')).toBe('boom at line 2');
    expect(headerValue('é')).toBe('?');
    expect(headerValue('x'.repeat(600))).toHaveLength(512);
  });
});
