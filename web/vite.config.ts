import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The build is committed (web/dist) and embedded in the Go binary, so it must
// be reproducible from a clean `npm ci` and obey the server's strict CSP:
// no inline script or style anywhere in the output.
export default defineConfig({
  plugins: [svelte()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Vite's modulepreload polyfill is injected as code; modern browsers
    // need none, and it keeps index.html free of anything but tags.
    modulePreload: { polyfill: false },
    // Inlined assets would become data: URLs in CSS; keep files instead.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
    target: 'es2022',
  },
  server: {
    // `npm run dev` against a local node: API calls go to it.
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/v1': 'http://127.0.0.1:8080',
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
