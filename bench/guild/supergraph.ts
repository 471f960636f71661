/** The Guild workload's supergraph, composed with @apollo/composition from the fixtures' subgraph SDL. */
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { GUILD_SUBGRAPHS, loadGuildFixtures, type GuildSubgraph } from './data';

export function composeGuildSupergraph(urls: Record<GuildSubgraph, string>): string {
  const { sdl } = loadGuildFixtures();
  const result = composeServices(GUILD_SUBGRAPHS.map((name) => ({ name, url: urls[name], typeDefs: parse(sdl[name]) })));
  if (result.errors?.length || !result.supergraphSdl) {
    throw new Error(`composition failed: ${(result.errors ?? []).map((e) => e.message).join('; ')}`);
  }
  return result.supergraphSdl;
}
