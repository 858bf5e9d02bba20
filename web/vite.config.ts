// The bundle: two pages (the portal, index.html, and the users' web client, client.html), their scripts and styles under assets/ named by content hash
// (served with a year's cache; index.html is revalidated). No source maps in the build, nothing
// loaded from elsewhere (the server's Content-Security-Policy allows only its own origin).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: { portal: 'index.html', client: 'client.html' },
    },
  },
});
