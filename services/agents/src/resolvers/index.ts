import { DateTimeScalar, JSONScalar } from '@cos/service-kit';
import type { Resolvers } from '../__generated__/resolvers-types';
import { Agent } from './Agent';
import { AgentRun, AgentRunClaim, AgentStep, AgentTaskSnapshot, AgentUsage } from './AgentRun';
import { Checkpoint } from './Checkpoint';
import { Mutation } from './Mutation';
import { Query } from './Query';
import { Task } from './Task';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  Agent,
  AgentRun,
  AgentRunClaim,
  AgentStep,
  AgentTaskSnapshot,
  AgentUsage,
  Checkpoint,
  Task,
};
