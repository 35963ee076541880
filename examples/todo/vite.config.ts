import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

const src = (file: string) => fileURLToPath(new URL(`../../src/${file}`, import.meta.url))

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // an app would import the installed package; here it is this repository's source
  resolve: {
    alias: [
      { find: /^tidepool$/, replacement: src('index.ts') },
      { find: /^tidepool\/indexeddb$/, replacement: src('indexeddb.ts') },
      { find: /^tidepool\/react$/, replacement: src('react/index.ts') },
      { find: /^tidepool\/devtools$/, replacement: src('devtools.ts') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        // React in a chunk of its own, so that the build report sizes Tidepool and the app apart from it; only React is grouped,
        // so that a module imported dynamically (a devtools panel behind a flag, say) still gets a chunk of its own
        codeSplitting: { groups: [{ name: 'react', test: /[\\/]node_modules[\\/](react|react-dom|scheduler)[\\/]/ }] },
      },
    },
  },
  plugins: [
    // the app shell (page, script, styles) cached by a service worker (Workbox): a reload offline still opens the app, and its data is in IndexedDB
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: 'script',
      manifest: false,
      workbox: {
        globPatterns: ['**/*.{html,js,css}'],
        // the first visit's page is held at once, so the app opens offline from then on
        clientsClaim: true,
        skipWaiting: true,
        navigateFallback: 'index.html',
        // sync, health and metrics always go to the server
        navigateFallbackDenylist: [/^\/v1\//, /^\/health/, /^\/ready/, /^\/metrics/],
      },
    }),
  ],
  // `npx vite examples/todo` while developing the app: its sync calls go to the Tidepool server of `npm start`
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:4000', ws: true } } },
})
