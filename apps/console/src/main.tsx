import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { AppContext } from './app-context';
import { loadConfig } from './config';
import { SessionStore } from './session';
import './styles.css';

const config = await loadConfig();
const session = new SessionStore(config.httpUrl);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AppContext.Provider value={{ session, config }}>
      <App />
    </AppContext.Provider>
  </StrictMode>,
);
