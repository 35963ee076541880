import { memoryStorage, openDatabase } from 'tidepool'
import { describe, expect, it } from 'vitest'
import { models, Todo } from '../../examples/todo/models.js'
import { until } from '../helpers/until.js'
import { useBrowserEnv, type ReactTab } from './harness.js'

const shown = (t: ReactTab) => t.rp(rp => rp.shown())

describe('tidepool/react in Chromium', () => {
  const env = useBrowserEnv()

  it("a list follows local writes, another tab's writes and writes that arrive by sync", async () => {
    const a = await env().reactTab()
    const b = await env().reactTab()
    await a.rp(rp => rp.open({ name: 'react-live', sync: true }))
    await b.rp(rp => rp.open({ name: 'react-live', sync: true }))
    await until('the first result is read', async () => (await shown(a)).titlesState === 'ready')
    expect((await shown(a)).name).toBe('none')

    await a.rp(rp => rp.add('home', 'water plants', 1))
    await until('a local write shows', async () => (await shown(a)).titles.join() === 'water plants')
    expect((await shown(a)).name).toBe('home')
    await b.rp(rp => rp.add('home', 'fix door', 2))
    await until("the other tab's write shows", async () => (await shown(a)).titles.join() === 'water plants,fix door')

    // another device, through the server
    const node = await openDatabase({ name: 'react-node', models, storage: memoryStorage(), sync: { url: env().server.url, pollInterval: 0 } })
    await node.run(async tx => void tx.create(Todo, { id: 'home/call mum', list: 'home', title: 'call mum', done: false, createdAt: 3 }))
    await node.sync!.syncNow()
    await until('a synced write shows in both tabs', async () => (await shown(a)).titles.length === 3 && (await shown(b)).titles.length === 3)
    expect((await shown(b)).titles).toEqual(['water plants', 'fix door', 'call mum'])
    await until('the status badge is live', async () => (await shown(a)).status === 'in-sync')
    await node.close()
    await a.rp(rp => rp.close())
    await b.rp(rp => rp.close())
    await a.close()
    await b.close()
  })

  it("re-renders only the components whose result a write changed", async () => {
    const t = await env().reactTab()
    await t.rp(rp => rp.open({ name: 'react-renders', sync: false }))
    await t.rp(rp => rp.add('home', 'first', 1))
    await until('settled', async () => (await shown(t)).titles.join() === 'first')
    const before = (await shown(t)).renders
    for (let i = 0; i < 5; i++) await t.rp((rp, i) => rp.add('home', `more ${i}`, 10 + i), i)
    await until('every write shows', async () => (await shown(t)).titles.length === 6)
    // a rename changes the list document only: the todo lists do not render for it
    await t.rp(rp => rp.rename('home', 'House'))
    await until('the rename shows', async () => (await shown(t)).name === 'House')
    const after = (await shown(t)).renders
    expect(after.other).toBe(before.other)
    expect(after.status).toBe(before.status)
    // each write renders the list once at most (writes close together may share one)
    expect(after.titles! - before.titles!).toBeGreaterThanOrEqual(1)
    expect(after.titles! - before.titles!).toBeLessThanOrEqual(5)
    expect(after.name! - before.name!).toBeLessThanOrEqual(2)

    // new deps: the query is made again, and the other list's component is untouched
    await t.rp(rp => rp.show('other'))
    await until('the other list shows', async () => (await shown(t)).titlesState === 'ready' && (await shown(t)).titles.length === 0)
    expect((await shown(t)).renders.other).toBe(before.other)
    await t.rp(rp => rp.close())
    await t.close()
  })

  it('works in Strict Mode: one subscription per mounted query, and it stays live', async () => {
    const t = await env().reactTab()
    await t.rp(rp => rp.open({ name: 'react-strict', sync: false, strict: true }))
    await until('the first result is read', async () => (await shown(t)).titlesState === 'ready')
    // two components, each mounted twice by Strict Mode: the second mount keeps the first one's subscription
    expect((await shown(t)).queriesMade).toBe(2)
    await t.rp(rp => rp.add('home', 'strict', 1))
    await until('a write shows', async () => (await shown(t)).titles.join() === 'strict')
    expect((await shown(t)).queriesMade).toBe(2)
    await t.rp(rp => rp.close())
    await t.close()
  })
})
