import type { CheckpointResolvers } from '../__generated__/resolvers-types';
import { iso } from './guards';

export const Checkpoint: CheckpointResolvers = {
  createdAt: (c) => iso(c.created_at)!,
};
