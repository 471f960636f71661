/**
 * Tool and argument descriptions written as `#` comments in an operation file (GraphQL 16 has no descriptions on
 * executable definitions, and comments are part of the persisted body, so the manifest carries them):
 *
 *   # Customers at risk of churn (health score below 40) ...     ← the tool's description: the comment lines
 *   # Use it to decide whom to call first.                          right above the operation keyword
 *   query FindAtRiskCustomers(
 *     # How many customers to return (1-50).                       ← a variable's description: comment lines
 *     $first: Int = 10                                                above it, or a comment after it on its line
 *     $after: String # A cursor from a previous answer's pageInfo.endCursor
 *   ) { ... }
 *
 * Comment lines are joined with spaces; an empty `#` line starts a new paragraph.
 */
import { TokenKind, type Location, type OperationDefinitionNode, type Token } from 'graphql';

/** Joins comment token values into prose: lines with spaces, empty lines as paragraph breaks. */
function prose(comments: readonly Token[]): string | undefined {
  const paragraphs: string[][] = [[]];
  for (const c of comments) {
    const line = (c.value ?? '').trim();
    if (line === '') {
      if (paragraphs[paragraphs.length - 1]!.length) paragraphs.push([]);
    } else paragraphs[paragraphs.length - 1]!.push(line);
  }
  const text = paragraphs
    .filter((p) => p.length)
    .map((p) => p.join(' '))
    .join('\n\n');
  return text || undefined;
}

/** The comment lines directly above a node (on their own lines: a trailing comment of the line before is not). */
function commentsAbove(loc: Location): Token[] {
  const out: Token[] = [];
  let t = loc.startToken.prev;
  while (t && t.kind === TokenKind.COMMENT) {
    out.unshift(t);
    t = t.prev;
  }
  // `t` is the token before the comment block: comments on its line trail it and belong to it.
  const ownerLine = t && t.kind !== TokenKind.SOF ? t.line : -1;
  return out.filter((c) => c.line !== ownerLine);
}

/** A comment after the node on the same line as its last token. */
function commentAfter(loc: Location): Token[] {
  const next = loc.endToken.next;
  return next && next.kind === TokenKind.COMMENT && next.line === loc.endToken.line ? [next] : [];
}

export interface OperationDocs {
  /** The operation's description (comments above it), if any. */
  description?: string;
  /** Descriptions of its variables by name (comments above each, or after it on its line). */
  variables: Map<string, string>;
}

/** Reads the descriptions of an operation parsed WITH locations (graphql `parse` without `noLocation`). */
export function operationDocs(operation: OperationDefinitionNode): OperationDocs {
  if (!operation.loc) throw new Error('operationDocs needs a document parsed with locations');
  const variables = new Map<string, string>();
  for (const def of operation.variableDefinitions ?? []) {
    if (!def.loc) continue;
    const text = prose([...commentsAbove(def.loc), ...commentAfter(def.loc)]);
    if (text) variables.set(def.variable.name.value, text);
  }
  return { description: prose(commentsAbove(operation.loc)), variables };
}
