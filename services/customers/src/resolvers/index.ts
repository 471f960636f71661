import type { Resolvers } from '../__generated__/resolvers-types';
import { Customer } from './Customer';
import { Mutation } from './Mutation';
import { MyDataExport } from './MyDataExport';
import { JSONScalar } from '@cos/service-kit';
import { Query } from './Query';
import { SearchResults } from './Search';

export const resolvers: Resolvers = { JSON: JSONScalar, Query, Mutation, Customer, SearchResults, MyDataExport };
