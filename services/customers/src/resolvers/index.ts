import type { Resolvers } from '../__generated__/resolvers-types';
import { Customer } from './Customer';
import { Mutation } from './Mutation';
import { Query } from './Query';
import { SearchResults } from './Search';

export const resolvers: Resolvers = { Query, Mutation, Customer, SearchResults };
