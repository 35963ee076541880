import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { createServer, type TidepoolServer } from 'tidepool/server'
import { models } from '../../examples/todo/models.js'
import { bundle, launchChromium } from './chromium.js'
import type { TestPage } from './page.js'
import type { ReactTestPage } from './react-page.js'

/** A page with the test page's API: `tp(fn, arg)` runs `fn(window.tp, arg)` in the page (fn may use nothing else from the test). */
export type Tab = Page & { tp: <R, A = undefined>(fn: (tp: TestPage, arg: A) => R | Promise<R>, arg?: A) => Promise<R> }
export type ReactTab = Page & { rp: <R, A = undefined>(fn: (rp: ReactTestPage, arg: A) => R | Promise<R>, arg?: A) => Promise<R> }

/** A Tidepool server on a fresh SQLite file that also serves the test page, and a Chromium to open it in. */
export interface BrowserEnv {
  server: TidepoolServer
  browser: Browser
  /** One browser profile: its tabs share IndexedDB, locks and channels. */
  context: BrowserContext
  /** Opens the test page in a new tab of the context (or of another profile: another device). */
  tab(context?: BrowserContext): Promise<Tab>
  /** Opens the React test page (react-page.ts) in a new tab: `rp(fn, arg)` runs `fn(window.rp, arg)` in it. */
  reactTab(context?: BrowserContext): Promise<ReactTab>
  /** Open WebSockets on the server. */
  sockets(): Promise<number>
  close(): Promise<void>
}

/** `secret`: the server verifies tokens (HS256) with it, for tests of users and realms. */
export async function startBrowserEnv(options: { secret?: string } = {}): Promise<BrowserEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-browser-'))
  const site = join(dir, 'site')
  mkdirSync(site)
  await bundle(new URL('./page.ts', import.meta.url).pathname, join(site, 'page.js'))
  await bundle(new URL('./sw.ts', import.meta.url).pathname, join(site, 'sw.js'))
  await bundle(new URL('./react-page.ts', import.meta.url).pathname, join(site, 'react.js'))
  writeFileSync(join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><title>tidepool test</title><script type="module" src="/page.js"></script>')
  writeFileSync(join(site, 'react.html'), '<!doctype html><meta charset="utf-8"><title>tidepool react test</title><script type="module" src="/react.js"></script>')
  const server = await createServer({ storage: join(dir, 'server.db'), port: 0, models, static: site, ...(options.secret ? { auth: { secret: options.secret } } : {}) })
  const browser = await launchChromium()
  const context = await browser.newContext()
  return {
    server,
    browser,
    context,
    async tab(other?: BrowserContext) {
      const page = await (other ?? context).newPage()
      page.on('pageerror', e => console.error('page error:', e))
      await page.goto(`${server.url}/index.html`)
      await page.waitForFunction(() => 'tp' in window)
      return Object.assign(page, {
        tp: <R, A>(fn: (tp: TestPage, arg: A) => R | Promise<R>, arg?: A) => page.evaluate(`(${fn.toString()})(window.tp, ${JSON.stringify(arg ?? null)})`) as Promise<R>,
      })
    },
    async reactTab(other?: BrowserContext) {
      const page = await (other ?? context).newPage()
      page.on('pageerror', e => console.error('page error:', e))
      await page.goto(`${server.url}/react.html`)
      await page.waitForFunction(() => 'rp' in window)
      return Object.assign(page, {
        rp: <R, A>(fn: (rp: ReactTestPage, arg: A) => R | Promise<R>, arg?: A) => page.evaluate(`(${fn.toString()})(window.rp, ${JSON.stringify(arg ?? null)})`) as Promise<R>,
      })
    },
    async sockets() {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      return Number(/tidepool_sockets (\d+)/.exec(text)?.[1])
    },
    async close() {
      await browser.close()
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** One environment for the tests of a `describe`: started before them, closed after. Call the result inside a test. */
export function useBrowserEnv(options: { secret?: string } = {}): () => BrowserEnv {
  let env: BrowserEnv | undefined
  beforeAll(async () => {
    env = await startBrowserEnv(options)
  }, 60_000)
  afterAll(async () => {
    await env?.close()
  })
  return () => {
    if (!env) throw new Error('the browser environment is not started (call it inside a test)')
    return env
  }
}
