import { defineConfig } from 'vite';

// The page is embedded in the tiderun binary and served at `/`; in development the Vite
// server forwards the API and the WebSocket to a running `tiderun serve`.
const target = process.env.TIDERUN_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
  },
  server: {
    proxy: {
      '/api': { target, ws: true },
    },
  },
});
