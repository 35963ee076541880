import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { createServer, type TidepoolServer } from 'tidepool/server'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
    await build({ configFile: join(app, 'vite.config.ts'), logLevel: 'error', build: { outDir: join(dir, 'dist') } })
    server = await createServer({ storage: join(dir, 'server.db'), port: 0, models, static: join(dir, 'dist') })
    browser = await launchChromium()
    mkdirSync(shots, { recursive: true })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Saves both tabs side by side in one picture (the README shows it). */
  async function twoTabs(a: Page, b: Page, path: string): Promise<void> {
    const [left, right] = [await a.screenshot(), await b.screenshot()]
    const img = (png: Buffer, label: string) =>
      `<figure><figcaption>${label}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`
    const page = await browser.newPage({ viewport: { width: 1840, height: 580 } })
    await page.setContent(
      `<style>body{margin:0;display:flex;gap:16px;padding:8px;background:#c5ced6;font:14px sans-serif}figure{margin:0}img{width:900px;border:1px solid #889}</style>` +
        img(left, 'Tab A: holds the connection for both tabs') +
        img(right, 'Tab B: the todo added here while offline, queued'),
    )
    await page.screenshot({ path })
    await page.close()
  }

  const items = (page: Page) => page.locator('#todos li span').allTextContents()

  it('lists, todos and counts made in one tab show in the other; offline writes sync when back', async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 520 } })
    const [a, b] = [await context.newPage(), await context.newPage()]
    for (const p of [a, b]) {
      p.on('pageerror', e => console.error('page error:', e))
      await p.goto(`${server.url}/`)
    }
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
    await twoTabs(a, b, join(shots, 'example-app-two-tabs.png'))
    await context.setOffline(false)
    await expect.poll(() => b.locator('#status').textContent(), { timeout: 10_000 }).toMatch(/^in-sync · /)

    // another device sees everything, including the offline write
    const other = await browser.newContext({ viewport: { width: 900, height: 520 } })
    const c = await other.newPage()
    await c.goto(`${server.url}/#groceries`)
    await expect.poll(() => items(c), { timeout: 10_000 }).toEqual(['Milk', 'Bread', 'Coffee', 'Eggs (added offline)'])
    await expect.poll(() => c.locator('#lists li .count').textContent()).toBe('3')
    await other.close()
    await context.close()
  })
})
