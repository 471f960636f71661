import type { CommentResolvers } from '../__generated__/resolvers-types';
import { agentRef, userRef } from './refs';
import { reader } from './access';

export const Comment: CommentResolvers = {
  // Comments by an API key or a service have no person as author (author_id null).
  author: (c) => (c.author_id ? userRef(c.author_id) : null!),
  draftedBy: (c) => (c.drafted_by_agent_id ? agentRef(c.drafted_by_agent_id) : null),
  createdAt: (c) => c.created_at,
  attachments: (c, _args, ctx) => reader(ctx).loaders.attachmentsByComment.load(c.id),
};
