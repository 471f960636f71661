import type { Resolvers } from '../__generated__/resolvers-types';
import { Customer } from './Customer';
import { Mutation } from './Mutation';
import { MyDataExport } from './MyDataExport';
import { JSONScalar } from '@cos/service-kit';
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
  JSON: JSONScalar,
  MyDataExport,
};
