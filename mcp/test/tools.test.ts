import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { apiSchemaOf, manifestFromBodies, manifestSchema } from '@cos/persisted';
import { operationDocs } from '../src/comments';
import { buildToolset, loadToolset, titleOf } from '../src/tools';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SUPERGRAPH = path.join(root, 'schema/supergraph.graphql');
const api = apiSchemaOf(readFileSync(SUPERGRAPH, 'utf8'));
const op = (body: string) => parse(body).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;

describe('descriptions from comments', () => {
  it('reads the comment lines above the operation, joining lines and keeping paragraphs', () => {
    const docs = operationDocs(
      op(`# Finds the customers
# at risk.
#
# Then call CustomerOverview.
query Q { me { id } }`),
    );
    expect(docs.description).toBe('Finds the customers at risk.\n\nThen call CustomerOverview.');
  });

  it('reads comments above a variable and a comment after it on its own line, not the previous line’s', () => {
    const docs = operationDocs(
      op(`query Q(
  # How many
  # to return.
  $first: Int = 10 # at most 100
  $after: String # a cursor
  $plain: ID
) { me { id } }`),
    );
    expect(docs.variables.get('first')).toBe('How many to return. at most 100');
    expect(docs.variables.get('after')).toBe('a cursor');
    expect(docs.variables.has('plain')).toBe(false);
    expect(docs.description).toBeUndefined();
  });

  it('needs locations', () => {
    expect(() => operationDocs(parse('query Q { me { id } }', { noLocation: true }).definitions[0] as OperationDefinitionNode)).toThrow(/locations/);
  });
});

describe('the tool set of a manifest', () => {
  it('the shipped MCP manifest builds: every tool named after its operation, described, typed', async () => {
    const toolset = await loadToolset(path.join(root, 'schema/persisted/mcp.json'), SUPERGRAPH);
    const names = toolset.tools.map((t) => t.tool.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'FindAtRiskCustomers',
        'CustomerOverview',
        'CreateFollowUpTask',
        'RecordSignal',
        'ListPendingApprovals',
        'DecideApproval',
        'StartAgentRun',
      ]),
    );
    for (const { tool } of toolset.tools) {
      expect(tool.description!.length, tool.name).toBeGreaterThan(60);
      expect(tool.inputSchema.type).toBe('object');
    }
    const overview = toolset.get('CustomerOverview')!;
    expect(overview.tool.inputSchema.required).toEqual(['customerId']);
    expect(overview.tool.inputSchema.properties.customerId!.description).toMatch(/FindAtRiskCustomers/);
    expect(overview.tool.annotations).toMatchObject({ readOnlyHint: true });
    expect(toolset.get('CreateFollowUpTask')!.tool.annotations).toMatchObject({ readOnlyHint: false });
    expect(overview.check({ customerId: 'x', historyPoints: 5 })).toBeNull();
    expect(overview.check({ historyPoints: 5 })).toMatch(/customerId/);
  });

  it('skips subscriptions and keeps the document id and body for execution', () => {
    const m = manifestFromBodies(['# Who am I.\nquery WhoAmI { me { id name } }', 'subscription Changes { taskChanged { cursor } }']);
    const toolset = buildToolset(api, m);
    expect(toolset.tools.map((t) => t.tool.name)).toEqual(['WhoAmI']);
    expect(toolset.get('WhoAmI')!.operation).toEqual(m.operations.find((o) => o.name === 'WhoAmI'));
    expect(toolset.get('Changes')).toBeUndefined();
  });

  it('refuses to start on an invalid operation, naming it', () => {
    const m = manifestFromBodies(['# Broken.\nquery Broken { customers { nope } }']);
    expect(() => buildToolset(api, m)).toThrow(/Broken: Cannot query field "nope"/);
  });

  it('refuses operations without a description, or whose id is not their body’s hash', () => {
    expect(() => buildToolset(api, manifestFromBodies(['query Silent { me { id } }']))).toThrow(/Silent: no description/);
    const m = manifestFromBodies(['# Me.\nquery Me2 { me { id } }']);
    const tampered = manifestSchema.parse({ ...m, operations: [{ ...m.operations[0]!, body: '# Me.\nquery Me2 { me { id name } }' }] });
    expect(() => buildToolset(api, tampered)).toThrow(/id is not the sha256 of body/);
  });

  it('titles read as words', () => {
    expect(titleOf('FindAtRiskCustomers')).toBe('Find at risk customers');
    expect(titleOf('list_agents')).toBe('list agents');
  });
});
