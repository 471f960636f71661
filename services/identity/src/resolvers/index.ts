import type { Resolvers } from '../__generated__/resolvers-types';
import { AuthPayload } from './AuthPayload';
import { Membership } from './Membership';
import { Mutation } from './Mutation';
import { MyDataExport } from './MyDataExport';
import { Organization } from './Organization';
import { Query } from './Query';
import { JSONScalar } from '@cos/service-kit';
import { DateTime } from './scalars';
import { User } from './User';

export const resolvers: Resolvers = { DateTime, JSON: JSONScalar, Query, Mutation, User, Organization, Membership, AuthPayload, MyDataExport };
