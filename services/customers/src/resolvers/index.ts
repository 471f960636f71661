import type { Resolvers } from '../__generated__/resolvers-types';
import { Customer } from './Customer';
import { Mutation } from './Mutation';
import { Query } from './Query';
import { SearchResults } from './Search';
import { Connection, ConnectionDelivery, connectionMutations, connectionQueries, ConnectionSync } from './Connection';

export const resolvers: Resolvers = {
  Query: { ...Query, ...connectionQueries },
  Mutation: { ...Mutation, ...connectionMutations },
  Customer,
  SearchResults,
  Connection,
  ConnectionSync,
  ConnectionDelivery,
};
