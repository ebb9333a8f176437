import { useState, useSyncExternalStore } from 'react';
import { apiKey, authRequired, setApiKey, subscribeAuth } from '../lib/auth';

/** ApiKeyBar appears only once the api has asked for a key (401), or a key is stored. */
export function ApiKeyBar() {
  const needed = useSyncExternalStore(subscribeAuth, authRequired);
  const key = useSyncExternalStore(subscribeAuth, apiKey);
  const [draft, setDraft] = useState('');
  if (!needed && !key) return null;
  return (
    <form
      className="apikey"
      onSubmit={(e) => {
        e.preventDefault();
        if (draft.trim()) setApiKey(draft);
        setDraft('');
      }}
    >
      {key ? (
        <p>
          Using a stored API key (…{key.slice(-4)}).{' '}
          <button type="button" className="btn btn-small" onClick={() => setApiKey('')}>Forget key</button>
        </p>
      ) : (
        <p>This IntelliDox needs an API key. It is kept in this browser only.</p>
      )}
      <div className="search-row">
        <label htmlFor="api-key" className="visually-hidden">API key</label>
        <input id="api-key" type="password" autoComplete="off" placeholder={key ? 'Replace the API key' : 'API key'}
          value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit" className="btn">Save key</button>
      </div>
    </form>
  );
}
