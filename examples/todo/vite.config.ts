import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const src = (file: string) => fileURLToPath(new URL(`../../src/${file}`, import.meta.url))

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // an app would import the installed package; here it is this repository's source
  resolve: {
    alias: [
      { find: /^tidepool$/, replacement: src('index.ts') },
      { find: /^tidepool\/indexeddb$/, replacement: src('indexeddb.ts') },
    ],
  },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: true },
  // `npx vite examples/todo` while developing the app: its sync calls go to the Tidepool server of `npm start`
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:4000', ws: true } } },
})
