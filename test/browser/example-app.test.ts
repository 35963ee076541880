import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createServer, type TidepoolServer } from 'tidepool/server'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_SECRET } from '../../examples/todo/demo-auth.js'
import { models } from '../../examples/todo/models.js'
import { launchChromium } from './chromium.js'

const app = fileURLToPath(new URL('../../examples/todo/', import.meta.url))
const shots = fileURLToPath(new URL('../../test-results/', import.meta.url))

describe('the example app (examples/todo) in two tabs of Chromium', () => {
  let dir: string
  let server: TidepoolServer
  let browser: Browser
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-app-'))
    // built as it ships: under vitest NODE_ENV is test, which would bring React's development build and JSX
    const env = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    try {
      await build({ configFile: join(app, 'vite.config.ts'), logLevel: 'error', build: { outDir: join(dir, 'dist') } })
    } finally {
      process.env.NODE_ENV = env
    }
    server = await createServer({ storage: join(dir, 'server.db'), port: 0, models, static: join(dir, 'dist'), auth: { secret: DEMO_SECRET } })
    browser = await launchChromium()
    mkdirSync(shots, { recursive: true })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Saves two pages side by side in one picture (docs/browser.md shows it). */
  async function sideBySide(a: Page, b: Page, path: string, labels: [string, string]): Promise<void> {
    const [left, right] = [await a.screenshot(), await b.screenshot()]
    const img = (png: Buffer, label: string) =>
      `<figure><figcaption>${label}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`
    const page = await browser.newPage({ viewport: { width: 1840, height: 580 } })
    await page.setContent(
      `<style>body{margin:0;display:flex;gap:16px;padding:8px;background:#c5ced6;font:14px sans-serif}figure{margin:0}img{width:900px;border:1px solid #889}</style>` +
        img(left, labels[0]) +
        img(right, labels[1]),
    )
    await page.screenshot({ path })
    await page.close()
  }

  const items = (page: Page) => page.locator('#todos li span').allTextContents()

  /** Opens the app in a new page of `context`, signed in as `user` (the first page of a profile signs in; the others remember it). */
  async function openApp(context: BrowserContext, user?: string): Promise<Page> {
    const page = await context.newPage()
    // shorter than the test's own timeout, so that a step that hangs is named in the failure
    page.setDefaultTimeout(10_000)
    page.on('pageerror', e => console.error('page error:', e))
    await page.goto(`${server.url}/`)
    if (user) {
      await page.fill('#sign-in input', user)
      await page.click('#sign-in button')
    }
    await expect.poll(() => page.locator('#user').textContent()).not.toBe('')
    return page
  }

  it('lists, todos and counts made in one tab show in the other; offline writes sync when back', async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 520 } })
    const a = await openApp(context, 'ann')
    const b = await openApp(context)
    expect(await b.locator('#user').textContent()).toBe('ann')
    await a.fill('#new-list input', 'Groceries')
    await a.click('#new-list button')
    for (const title of ['Milk', 'Bread', 'Coffee']) {
      await a.fill('#new-todo input', title)
      await a.click('#new-todo button')
    }
    // the other tab sees the list and its open count without a reload
    await b.locator('#lists li', { hasText: 'Groceries' }).click()
    await expect.poll(() => items(b)).toEqual(['Milk', 'Bread', 'Coffee'])
    await b.locator('#todos li', { hasText: 'Bread' }).locator('input').check()
    await expect.poll(() => a.locator('#lists li', { hasText: 'Groceries' }).locator('.count').textContent()).toBe('2')
    await expect.poll(() => a.locator('#todos li.done span').allTextContents()).toEqual(['Bread'])
    await expect.poll(() => a.locator('#status').textContent()).toMatch(/^in-sync · /)
    const statuses = [await a.locator('#status').textContent(), await b.locator('#status').textContent()]
    expect(statuses.filter(s => s?.endsWith('this tab syncs'))).toHaveLength(1)

    await context.setOffline(true)
    await b.fill('#new-todo input', 'Eggs (added offline)')
    await b.click('#new-todo button')
    await expect.poll(() => items(a)).toContain('Eggs (added offline)')
    await expect.poll(() => b.locator('#status').textContent()).toMatch(/1 to push/)
    await sideBySide(a, b, join(shots, 'example-app-two-tabs.png'), ['Tab A: holds the connection for both tabs', 'Tab B: the todo added here while offline, queued'])
    await context.setOffline(false)
    await expect.poll(() => b.locator('#status').textContent(), { timeout: 10_000 }).toMatch(/^in-sync · /)

    // another device of the same user sees everything, including the offline write
    const other = await browser.newContext({ viewport: { width: 900, height: 520 } })
    const c = await openApp(other, 'ann')
    await c.locator('#lists li', { hasText: 'Groceries' }).click()
    await expect.poll(() => items(c), { timeout: 10_000 }).toEqual(['Milk', 'Bread', 'Coffee', 'Eggs (added offline)'])
    await expect.poll(() => c.locator('#lists li .count').textContent()).toBe('3')
    await other.close()
    await context.close()
  })

  it('reloads offline: the app shell comes from its service worker, the lists from IndexedDB, and edits made then sync when back', async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 520 } })
    const page = await openApp(context, 'offline-ann')
    // the form to add a todo shows only once a list is picked
    expect(await page.locator('#new-todo').isHidden()).toBe(true)
    await page.fill('#new-list input', 'Garden')
    await page.click('#new-list button')
    await page.fill('#new-todo input', 'Water roses')
    await page.click('#new-todo button')
    // committed (it shows), then pushed (in-sync means nothing waits)
    await expect.poll(() => items(page)).toEqual(['Water roses'])
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^in-sync · /)
    // the worker holds the page before the network goes
    await page.evaluate(async () => void (await navigator.serviceWorker.ready))
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true)

    await context.setOffline(true)
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^offline/)
    await page.reload()
    await expect.poll(() => page.locator('#user').textContent()).toBe('offline-ann')
    await page.locator('#lists li', { hasText: 'Garden' }).click()
    await expect.poll(() => items(page)).toEqual(['Water roses'])
    await page.fill('#new-todo input', 'Mow lawn (offline)')
    await page.click('#new-todo button')
    await expect.poll(() => items(page)).toEqual(['Water roses', 'Mow lawn (offline)'])
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/1 to push/)

    await context.setOffline(false)
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 10_000 }).toMatch(/^in-sync · /)
    const other = await browser.newContext()
    const elsewhere = await openApp(other, 'offline-ann')
    await elsewhere.locator('#lists li', { hasText: 'Garden' }).click()
    await expect.poll(() => items(elsewhere), { timeout: 10_000 }).toEqual(['Water roses', 'Mow lawn (offline)'])
    await other.close()
    await context.close()
  })

  it('a list shared with another user: they see it, edit it when allowed, and the owner sees their changes', async () => {
    const [annContext, bobContext] = [await browser.newContext({ viewport: { width: 900, height: 560 } }), await browser.newContext({ viewport: { width: 900, height: 560 } })]
    const ann = await openApp(annContext, 'ann-2')
    const bob = await openApp(bobContext, 'bob-2')
    for (const [list, todo] of [['Trip', 'Tickets'], ['Diary', 'Secret']]) {
      await ann.fill('#new-list input', list!)
      await ann.click('#new-list button')
      await ann.fill('#new-todo input', todo!)
      await ann.click('#new-todo button')
    }
    await ann.locator('#lists li', { hasText: 'Trip' }).click()
    await ann.fill('#share input', 'bob-2')
    await ann.selectOption('#share select', 'write')
    await ann.click('#share button')
    await expect.poll(() => ann.locator('#members').textContent()).toBe('Shared with bob-2 (can edit)×')
    // bob gets the shared list, and only that one
    await expect.poll(() => bob.locator('#lists li span:first-child').allTextContents(), { timeout: 10_000 }).toEqual(['Trip'])
    await bob.locator('#lists li', { hasText: 'Trip' }).click()
    await expect.poll(() => items(bob)).toEqual(['Tickets'])
    await bob.fill('#new-todo input', 'Passport')
    await bob.click('#new-todo button')
    await expect.poll(() => items(ann), { timeout: 10_000 }).toEqual(['Tickets', 'Passport'])
    await sideBySide(ann, bob, join(shots, 'example-app-two-users.png'), ['ann-2 shares the list "Trip" with bob-2 (keeps "Diary" to herself)', "bob-2 sees only the shared list, and adds to it"])
    // read-only: bob's page follows live, and offers no edits
    await ann.fill('#share input', 'bob-2')
    await ann.selectOption('#share select', 'read')
    await ann.click('#share button')
    await expect.poll(() => ann.locator('#members').textContent()).toBe('Shared with bob-2 (read-only)×')
    await expect.poll(() => bob.locator('#members').textContent(), { timeout: 10_000 }).toContain('You can read this list.')
    expect(await bob.locator('#todos li', { hasText: 'Passport' }).locator('input').isDisabled()).toBe(true)
    expect(await bob.locator('#new-todo').isHidden()).toBe(true)
    expect(await bob.locator('#share').isHidden()).toBe(true)
    // and when ann stops sharing, the list leaves bob's replica
    await ann.locator('#members .member button').click()
    await expect.poll(() => ann.locator('#members').textContent()).toBe('Only you')
    await expect.poll(() => bob.locator('#lists li').count(), { timeout: 10_000 }).toBe(0)
    await annContext.close()
    await bobContext.close()
  })

  it('shows the devtools panel beside the app on /?devtools: a todo written offline waits in its outbox, and leaves it once back online', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 640 } })
    const page = await openApp(context, 'dev-ann')
    await page.fill('#new-list input', 'Errands')
    await page.click('#new-list button')
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^in-sync · /)
    await page.goto(`${server.url}/?devtools`)
    const panel = page.locator('#tidepool-devtools [data-tidepool-devtools]')
    await expect.poll(() => panel.locator('header').textContent()).toContain('dev-ann')
    await expect.poll(() => panel.locator('[data-section="outbox"]').textContent()).toBe('Nothing waits to be pushed.')

    await context.setOffline(true)
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^offline/)
    await page.locator('#lists li', { hasText: 'Errands' }).click()
    await page.fill('#new-todo input', 'Post a letter (offline)')
    await page.click('#new-todo button')
    const ops = () => panel.locator('[data-section="outbox"] [data-mutation] code').allTextContents()
    await expect.poll(ops).toEqual([expect.stringMatching(/^create Todo\/\S+ \{"data":\{.*"title":"Post a letter \(offline\)"/), expect.stringMatching(/^increment TodoList\/\S+ \{"path":\["open"\],"by":1\}/), expect.stringMatching(/^if exists /)])
    await expect.poll(() => panel.locator('header .phase').textContent()).toBe('offline')
    await page.screenshot({ path: join(shots, 'example-app-devtools.png') })

    await context.setOffline(false)
    await expect.poll(() => panel.locator('[data-section="outbox"]').textContent(), { timeout: 10_000 }).toBe('Nothing waits to be pushed.')
    // the status tab tells how it got there
    await panel.locator('nav [data-tab="status"]').click()
    const phases = await panel.locator('[data-section="status"] table').nth(1).locator('td:nth-child(2)').allTextContents()
    expect(phases).toContain('offline')
    expect(phases[0]).toBe('in-sync')
    await context.close()
  })

  it('builds without the devtools in the chunks it loads, within 10% of the app before React and the panel (React itself aside)', () => {
    const assets = join(dir, 'dist', 'assets')
    const chunks = readdirSync(assets)
      .filter(f => f.endsWith('.js'))
      .map(f => ({ name: f, code: readFileSync(join(assets, f)) }))
    const panel = chunks.filter(c => c.code.includes('tidepool-devtools'))
    // the panel is a chunk of its own, which only /?devtools imports
    expect(panel.map(c => c.name)).toEqual([expect.stringMatching(/^devtools-/)])
    const app = chunks.filter(c => !/^(devtools|react)-/.test(c.name))
    const size = { min: app.reduce((n, c) => n + c.code.length, 0), gzip: app.reduce((n, c) => n + gzipSync(c.code).length, 0) }
    const react = chunks.find(c => c.name.startsWith('react-'))!
    console.log(`example app: ${size.min} bytes minified, ${size.gzip} gzipped, without React (${react.code.length} / ${gzipSync(react.code).length}) and the panel (${panel[0]!.code.length} / ${gzipSync(panel[0]!.code).length})`)
    // the DOM-only app with every chunk it had, built the same way before React and the panel came
    const before = { min: 317_420, gzip: 99_093 }
    expect(size.min).toBeLessThanOrEqual(before.min * 1.1)
    expect(size.gzip).toBeLessThanOrEqual(before.gzip * 1.1)
  })
})
