import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { bundle, launchChromium } from '../test/browser/chromium.js'
import type { BrowserBench } from './browser-page.js'
import { percentile, type Row } from './table.js'

/** Runs `fn(window.bench)` in the page (fn may use only its argument). */
function inPage<R, A = null>(page: Page, fn: (b: BrowserBench, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
  return page.evaluate(`(${fn.toString()})(window.bench, ${JSON.stringify(arg ?? null)})`) as Promise<R>
}

/**
 * In Chromium, side by side in one run: (a) importing 20,000 documents and
 * (b) one-document write transactions — Tidepool versus raw IndexedDB and
 * Dexie; (c) cross-tab latency from a commit in one tab to the live-query
 * callback in another.
 */
export async function browserBench(): Promise<{ rows: Row[]; crossTab: { p50: number; p95: number } }> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-browser-'))
  await bundle(new URL('./browser-page.ts', import.meta.url).pathname, join(dir, 'bench.js'))
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="/bench.js"></script>')
  const server = createHttpServer(async (req, res) => {
    const file = req.url === '/bench.js' ? 'bench.js' : 'index.html'
    res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'text/html')
    res.end(await readFile(join(dir, file)))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  const browser = await launchChromium()
  try {
    const context = await browser.newContext()
    const open = async () => {
      const page = await context.newPage()
      await page.goto(url)
      await page.waitForFunction(() => 'bench' in window)
      return page
    }
    const a = await open()
    const s = await inPage(a, b => b.stores())
    const rows: Row[] = [
      { workload: 'import 20,000 docs, one transaction', unit: 'docs/s', tidepool: 20_000 / (s.tidepool.importMs / 1000), baseline: 20_000 / (s.raw.importMs / 1000), baselineName: 'raw IndexedDB puts', higherIsBetter: true, target: '≥ 1× raw' },
      { workload: 'import 20,000 docs, one transaction', unit: 'docs/s', tidepool: 20_000 / (s.tidepool.importMs / 1000), baseline: 20_000 / (s.dexie.importMs / 1000), baselineName: 'Dexie bulkPut', higherIsBetter: true },
      { workload: 'one-document write transaction, p50', unit: 'ms', tidepool: s.tidepool.singleP50, baseline: s.raw.singleP50, baselineName: 'raw one-put transaction', higherIsBetter: false, target: '≥ 0.83× (within 1.2×)' },
      { workload: 'one-document write transaction, p50', unit: 'ms', tidepool: s.tidepool.singleP50, baseline: s.dexie.singleP50, baselineName: 'Dexie put', higherIsBetter: false },
      { workload: 'read-modify-write transaction, p50', unit: 'ms', tidepool: s.tidepool.rmwP50, baseline: s.raw.singleP50, baselineName: 'raw one-put transaction', higherIsBetter: false },
    ]

    // (c) tab A commits, tab B's live callback fires: 100 samples, 20 ms apart so they do not queue
    const b = await open()
    await inPage(a, x => x.openShared())
    await inPage(b, x => x.openShared())
    await inPage(b, x => x.listen())
    const sent = new Map<number, number>()
    for (let i = 0; i < 100; i++) {
      sent.set(i, await inPage(a, (x, n) => x.send(n), i))
      await new Promise(r => setTimeout(r, 20))
    }
    await new Promise(r => setTimeout(r, 200))
    const arrivals = await inPage(b, x => x.arrivals())
    const lat = arrivals.map(([n, at]) => at - sent.get(n)!).sort((x, y) => x - y)
    if (lat.length < 90) throw new Error(`only ${lat.length} of 100 cross-tab changes arrived`)
    return { rows, crossTab: { p50: percentile(lat, 0.5), p95: percentile(lat, 0.95) } }
  } finally {
    await browser.close()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
