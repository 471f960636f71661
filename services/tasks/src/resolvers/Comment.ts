import type { CommentResolvers } from '../__generated__/resolvers-types';
import { userRef } from './refs';

export const Comment: CommentResolvers = {
  // Comments by an API key or a service have no person as author (author_id null).
  author: (c) => (c.author_id ? userRef(c.author_id) : null!),
  createdAt: (c) => c.created_at,
};
