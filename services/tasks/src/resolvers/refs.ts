/** A reference to an entity another subgraph owns (or a key this one extends): the gateway fetches the rest. */
export interface EntityRef {
  __typename?: 'User' | 'Agent' | 'Customer';
  id: string;
}

export const userRef = (id: string): EntityRef => ({ __typename: 'User', id });
export const agentRef = (id: string): EntityRef => ({ __typename: 'Agent', id });
export const customerRef = (id: string): EntityRef => ({ __typename: 'Customer', id });
