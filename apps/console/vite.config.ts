import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `pnpm --filter @cos/console dev`: Vite's dev server on :5173, proxying /graphql (HTTP and WebSocket) to a running
// gateway (GATEWAY_URL, default http://127.0.0.1:4000), so the console talks to the graph from its own origin.
const gateway = process.env.GATEWAY_URL ?? 'http://127.0.0.1:4000';

export default defineConfig({
  plugins: [react()],
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
  server: { proxy: { '/graphql': { target: gateway, ws: true } }, fs: { allow: ['../..'] } },
});
