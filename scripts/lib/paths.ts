import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVICES = ['identity', 'tasks', 'customers', 'agents'] as const;
export type ServiceName = (typeof SERVICES)[number];
export const SERVICE_PORTS: Record<ServiceName, number> = { identity: 4001, tasks: 4002, customers: 4003, agents: 4004 };
