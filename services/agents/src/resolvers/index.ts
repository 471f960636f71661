import type { Resolvers } from '../__generated__/resolvers-types';
import { Agent } from './Agent';
import { AgentRun } from './AgentRun';
import { Checkpoint } from './Checkpoint';
import { Mutation } from './Mutation';
import { Query } from './Query';
import { Task } from './Task';

export const resolvers: Resolvers = { Query, Mutation, Agent, AgentRun, Checkpoint, Task };
