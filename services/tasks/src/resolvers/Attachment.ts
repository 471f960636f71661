import { GraphQLScalarType, Kind } from 'graphql';
import { signDownloadPath } from '@cos/files';
import type { AttachmentResolvers } from '../__generated__/resolvers-types';
import { userRef } from './refs';

export const Attachment: AttachmentResolvers = {
  size: (a) => Number(a.size),
  contentType: (a) => a.content_type,
  createdAt: (a) => a.created_at,
  uploadedBy: (a) => (a.uploaded_by ? userRef(a.uploaded_by) : null),
  // Signed per read: bound to the attachment's organization and blob, expiring (the gateway serves /files/<token>).
  url: (a, _args, ctx) =>
    ctx.files.publicBaseUrl +
    signDownloadPath({ orgId: a.org_id, sha256: a.sha256, name: a.name, type: a.content_type, exp: Date.now() + ctx.files.urlTtlMs }, ctx.files.secret),
};

/**
 * The gateway replaces each uploaded file with a signed blob reference (a string); the mutation verifies it with the
 * caller's organization, so this scalar only checks the shape. Inline literals are refused: a client cannot make one.
 */
export const UploadScalar = new GraphQLScalarType({
  name: 'Upload',
  description: 'A file sent with the GraphQL multipart request spec (the subgraph sees a signed blob reference)',
  serialize: () => {
    throw new TypeError('Upload is an input-only scalar');
  },
  parseValue: (v) => {
    if (typeof v !== 'string' || !v.startsWith('blob:')) throw new TypeError('Upload must be sent as a file in a multipart request');
    return v;
  },
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING && ast.value.startsWith('blob:')) return ast.value;
    throw new TypeError('Upload must be sent as a file in a multipart request');
  },
});
