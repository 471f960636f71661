import { eventSubject } from '@cos/events';
/** The subjects the agents service consumes (one filter subject per consumer: NATS 2.9). */
export const identitySubjects = (prefix: string) => `${prefix}.*.${eventSubject('identity')}`;
export const tasksSubjects = (prefix: string) => `${prefix}.*.${eventSubject('tasks')}`;

export const SERVICE = 'agents';
/** The actor recorded on events this service emits by itself (reactions, the runner). */
export const SERVICE_ACTOR = 'service:agents';
