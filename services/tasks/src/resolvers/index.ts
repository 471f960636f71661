import type { Resolvers } from '../__generated__/resolvers-types';
import { Approval } from './Approval';
import { Comment } from './Comment';
import { Mutation } from './Mutation';
import { MyDataExport } from './MyDataExport';
import { Agent, Customer, User } from './parents';
import { Query } from './Query';
import { SearchEdge, SearchHit, SearchResults } from './Search';
import { DateTimeScalar as DateTime, JSONScalar } from '@cos/service-kit';
import { Task } from './Task';
import { TaskConnection, TaskEdge } from './TaskConnection';

export const resolvers: Resolvers = {
  DateTime,
  JSON: JSONScalar,
  Query,
  Mutation,
  Task,
  Approval,
  Comment,
  TaskConnection,
  TaskEdge,
  SearchResults,
  SearchEdge,
  SearchHit,
  User,
  Agent,
  Customer,
  MyDataExport,
};
