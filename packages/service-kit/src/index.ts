export { createSubgraphServer, runService, setProcessInstrumentation, type BaseContext, type SubgraphServerOptions, type RunOptions, type ReadinessCheck } from './server';
export { requireAuth, requireScope, requireRole, parseId, validate } from './guards';
export { baseServiceEnv, type BaseServiceEnv } from './env';
export { encodeCursor, decodeCursor } from './cursor';
export { startSubgraphProcess, exitOnStartupError, type ProcessDeps, type ProcessServer, type SubgraphProcessOptions, type Stoppable } from './process';
export { groupBy, type BatchObserver } from './loaders';
export { DateTimeScalar, JSONScalar } from './scalars';
