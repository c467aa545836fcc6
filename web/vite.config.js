import { defineConfig } from 'vite';

// The pages are embedded in the tiderun binary: the classroom page served at `/`, the
// operator console at `/console`, the teacher's page at `/teacher`; in development the Vite server forwards the API and the
// WebSocket to a running `tiderun serve`.
const target = process.env.TIDERUN_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    rollupOptions: {
      input: {
        main: 'index.html',
        console: 'console.html',
        teacher: 'teacher.html',
      },
    },
  },
  server: {
    proxy: {
      '/api': { target, ws: true },
    },
  },
});
