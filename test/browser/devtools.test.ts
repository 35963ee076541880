import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { memoryStorage, model, openDatabase, S } from 'tidepool'
import { shareDevtools } from 'tidepool/devtools'
import { createServer, type TidepoolServer } from 'tidepool/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium.js'

class Note extends model({ collection: 'Note', fields: { text: S.str } }) {}

describe('the /devtools page of a server started with devtools', () => {
  let dir: string
  let devtools: TidepoolServer
  let browser: Browser
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-devtools-'))
    devtools = await createServer({ storage: join(dir, 'server.db'), port: 0, models: [Note], devtools: true })
    browser = await launchChromium()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await devtools?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("shows a Node replica's outbox, documents and status in the panel, and follows its changes", async () => {
    const db = await openDatabase({ name: 'node-app', models: [Note], storage: memoryStorage(), sync: { url: devtools.url, pollInterval: 0 } })
    const shared = shareDevtools(db, { url: devtools.url })
    try {
      await db.sync.syncNow()
      await db.sync.stop()
      await db.run(tx => void tx.create(Note, { id: 'n1', text: 'written offline' }))
      await shared.flush()

      const page = await browser.newPage()
      page.on('pageerror', e => console.error('page error:', e))
      await page.goto(`${devtools.url}/devtools`)
      const panel = page.locator('[data-tidepool-devtools]')
      await expect.poll(() => panel.locator('header').textContent()).toContain('node-app')
      await expect.poll(() => panel.locator('[data-section="outbox"] [data-mutation] code').allTextContents()).toEqual([expect.stringMatching(/^create Note\/n1 \{"data":\{"id":"n1","text":"written offline"/)])

      await panel.locator('nav [data-tab="collections"]').click()
      await panel.getByRole('button', { name: 'Note' }).click()
      await expect.poll(() => panel.locator('[data-section="collections"] .doc.pending[data-id="n1"]').count()).toBe(1)

      // a second write reaches the page without a reload
      await db.run(tx => void tx.create(Note, { id: 'n2', text: 'and another' }))
      await shared.flush()
      await expect.poll(() => panel.locator('[data-section="collections"] .doc').count()).toBe(2)
      await panel.locator('nav [data-tab="outbox"] .count').textContent().then(n => expect(n).toBe('2'))
      await page.close()
    } finally {
      shared.stop()
      await db.close()
    }
  })
})
