import { useState } from 'react';
import { useQuery } from 'urql';
import { SearchDocument } from '../__generated__/graphql';
import { navigate } from '../app-context';
import { errorText } from '../client';

export function SearchBox() {
  const [text, setText] = useState('');
  return (
    <form
      className="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) navigate(`search/${encodeURIComponent(text.trim())}`);
      }}
    >
      <input aria-label="Search" placeholder="Search tasks, comments, customers…" value={text} onChange={(e) => setText(e.target.value)} maxLength={200} />
    </form>
  );
}

export function SearchPage({ query }: { query: string }) {
  const [after, setAfter] = useState<string | null>(null);
  const [r] = useQuery({ query: SearchDocument, variables: { query, first: 20, after }, pause: !query });
  const res = r.data?.search;
  return (
    <section>
      <h1>Search: “{query}”</h1>
      {r.error && <p className="error">{errorText(r.error)}</p>}
      {res && <p>{res.totalCount} matches</p>}
      <ol className="results">
        {res?.edges.map(({ node: h }) => (
          <li key={`${h.type}:${h.id}`} data-testid="search-hit">
            <span className="tag">{h.type}</span>{' '}
            {h.customer && (h.type === 'CUSTOMER' || h.type === 'CONTACT') ? (
              <a href={`#/customers/${h.customer.id}`}>{h.title}</a>
            ) : (
              <a href="#/board">{h.title}</a>
            )}
            {h.customer && h.type !== 'CUSTOMER' && <small> · {h.customer.name}</small>}
            {/* The gateway escapes everything but the <mark> tags it adds (see the README's Search section). */}
            <p className="highlight" dangerouslySetInnerHTML={{ __html: h.highlight }} />
          </li>
        ))}
      </ol>
      {res?.pageInfo.hasNextPage && (
        <button type="button" onClick={() => setAfter(res.pageInfo.endCursor)}>
          More
        </button>
      )}
    </section>
  );
}
