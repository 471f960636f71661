export { createSubgraphServer, runService, type BaseContext, type SubgraphServerOptions, type RunOptions, type ReadinessCheck } from './server';
export { requireAuth, requireScope, requireRole, parseId, validate } from './guards';
export { baseServiceEnv, type BaseServiceEnv } from './env';
export { encodeCursor, decodeCursor } from './cursor';
