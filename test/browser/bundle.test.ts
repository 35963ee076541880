import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'

describe('the browser bundle', () => {
  it('tidepool, tidepool/indexeddb, tidepool/service-worker and tidepool/files bundle for browsers without Node built-ins or better-sqlite3', async () => {
    // platform 'browser': a `node:` import, or a Node built-in reached through a dependency, fails the build
    const result = await build({
      stdin: { contents: "export * from 'tidepool'; export * from 'tidepool/indexeddb'; export * from 'tidepool/service-worker'; export { webdavStore, memoryFileStore } from 'tidepool/files'", resolveDir: process.cwd(), loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.filter(i => /better-sqlite3|node:|\/pg\/|fastify/.test(i))).toEqual([])
    expect(inputs.filter(i => i.startsWith('dist/')).length).toBeGreaterThan(10)
    const code = result.outputFiles[0]!.contents
    const gzipped = gzipSync(code).length
    console.log(`browser bundle: ${(code.length / 1024).toFixed(0)} KiB minified, ${(gzipped / 1024).toFixed(1)} KiB gzipped`)
    // a guard against pulling in something large by accident (about 81 KiB today, with every browser entry)
    expect(gzipped).toBeLessThan(100 * 1024)
  })

  it('tidepool/devtools bundles for browsers on its own, and nothing of it comes with tidepool', async () => {
    const bundleOf = async (contents: string) => {
      const result = await build({ stdin: { contents, resolveDir: process.cwd(), loader: 'js' }, bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, metafile: true, logLevel: 'silent' })
      return Object.keys(result.metafile.inputs)
    }
    const devtools = await bundleOf("export * from 'tidepool/devtools'")
    expect(devtools.filter(i => /better-sqlite3|node:|\/pg\/|fastify/.test(i))).toEqual([])
    expect(devtools).toContain('dist/devtools/panel.js')
    const app = await bundleOf("export * from 'tidepool'; export * from 'tidepool/indexeddb'; export * from 'tidepool/react'")
    expect(app.filter(i => i.includes('/devtools'))).toEqual([])
  })
})
