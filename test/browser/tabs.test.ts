import { SignJWT } from 'jose'
import { Member, openDatabase, Realm } from 'tidepool'
import { describe, expect, it } from 'vitest'
import { models, Todo, TodoList } from '../../examples/todo/models.js'
import { useBrowserEnv, type BrowserEnv } from './harness.js'
import type { ChangeKind, TestPage } from './page.js'
import type { Page } from 'playwright-core'
import { until } from '../helpers/until.js'

describe('several tabs in Chromium', () => {
  const env = useBrowserEnv()

  it('a write in one tab appears in the live queries of the others', async () => {
    const tabs = [await env().tab(), await env().tab(), await env().tab()]
    for (const t of tabs) await t.tp(tp => tp.open({ name: 'live', sync: false }))
    for (const t of tabs) await t.tp(tp => tp.watch('home'))
    await tabs[0]!.tp(tp => tp.add('home', 'water plants'))
    await tabs[2]!.tp(tp => tp.add('home', 'fix door'))
    for (const t of tabs) {
      await until('every tab sees both todos', async () => (await t.tp(tp => tp.seen().at(-1)?.titles.length)) === 2)
      expect((await t.tp(tp => tp.seen().at(-1)))!.titles).toEqual(['water plants', 'fix door'])
    }
    for (const t of tabs) await t.close()
  })
})

/** Kills the tab's renderer, as a crash does. */
async function crash(page: Page): Promise<void> {
  const died = page.waitForEvent('crash')
  const cdp = await page.context().newCDPSession(page)
  // the renderer dies before it can answer
  void cdp.send('Page.crash').catch(() => undefined)
  await died
}

/**
 * A tab opens replica `name` (without sync) and starts `write`, which writes to the list 'c' until the page dies; once
 * the list holds `enough` todos its renderer is crashed, and a new tab tells what the replica kept: the list's todos,
 * the count the list keeps of them, and the outbox's length.
 */
async function crashWhileWriting(env: BrowserEnv, name: string, write: (tp: TestPage) => void, enough: number): Promise<{ titles: string[]; counted: number | undefined; pending: number }> {
  const a = await env.tab()
  await a.tp((tp, n) => tp.open({ name: n, sync: false }), name)
  await a.tp(write)
  await until('some commits', async () => (await a.tp(tp => tp.titles('c'))).length >= enough)
  await crash(a)
  const b = await env.tab()
  await b.tp((tp, n) => tp.open({ name: n, sync: false }), name)
  const kept = { titles: await b.tp(tp => tp.titles('c')), counted: await b.tp(tp => tp.open_count('c')), pending: await b.tp(tp => tp.pending()) }
  await b.close()
  return kept
}

/** What the server holds: a pull from a fresh client id. */
async function serverDocs(url: string): Promise<Map<string, Record<string, unknown>>> {
  const res = await fetch(`${url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'pull', v: 1, clientId: `observer-${Math.random()}`, since: 0 }) })
  const body = (await res.json()) as { changes: Array<{ collection: string; id: string; doc?: Record<string, unknown> }> }
  return new Map(body.changes.filter(c => c.doc).map(c => [`${c.collection}/${c.id}`, c.doc!]))
}

describe('one sync leader among tabs in Chromium', () => {
  const env = useBrowserEnv()

  it('only the leader tab holds a WebSocket; writes in other tabs reach the server through it', async () => {
    const tabs = [await env().tab(), await env().tab(), await env().tab()]
    for (const t of tabs) await t.tp(tp => tp.open({ name: 'one-socket' }))
    await until('a leader', async () => (await Promise.all(tabs.map(t => t.tp(tp => tp.status().leader)))).filter(Boolean).length === 1)
    await tabs[1]!.tp(tp => tp.add('work', 'report'))
    await tabs[2]!.tp(tp => tp.add('work', 'slides'))
    for (const t of tabs) await until('every tab sees the writes confirmed', async () => (await t.tp(tp => tp.status())).pending === 0 && (await t.tp(tp => tp.pending())) === 0)
    const docs = await serverDocs(env().server.url)
    expect(docs.get('TodoList/work')?.open).toBe(2)
    expect(await env().sockets()).toBe(1)
    expect((await Promise.all(tabs.map(t => t.tp(tp => tp.status().leader)))).filter(Boolean)).toHaveLength(1)
    for (const t of tabs) await t.close()
    await until('the socket closed', async () => (await env().sockets()) === 0)
  })

  for (const mode of ['Web Locks', 'lease'] as const) {
    it(`closing the leader hands over within 2 s, and unpushed writes reach the server exactly once (${mode})`, async () => {
      const name = `handover-${mode === 'lease' ? 'lease' : 'locks'}`
      const noLocks = mode === 'lease'
      const a = await env().tab()
      await a.tp((tp, o) => tp.open(o), { name, noLocks })
      await until('tab A leads', () => a.tp(tp => tp.status().leader))
      const b = await env().tab()
      await b.tp((tp, o) => tp.open(o), { name, noLocks })
      expect(await b.tp(tp => tp.status().leader)).toBe(false)
      // the leader's pushes reach the server, but it never hears back: the server applied what the tab still thinks unpushed
      let pushes = 0
      await a.route('**/v1/push', async route => {
        pushes++
        await route.fetch()
        await route.abort()
      })
      for (let i = 0; i < 5; i++) await (i % 2 ? a : b).tp((tp, n) => tp.add(`shop-${n}`, `item ${n}`), `${name}-${i}`)
      await until('the leader tried to push', () => pushes > 0)
      expect(await a.tp(tp => tp.pending())).toBeGreaterThan(0)
      const closed = Date.now()
      await a.close()
      await until('tab B leads', () => b.tp(tp => tp.status().leader), 2000)
      const handover = Date.now() - closed
      expect(handover).toBeLessThan(2000)
      await until('tab B pushed everything', async () => (await b.tp(tp => tp.pending())) === 0)
      const docs = await serverDocs(env().server.url)
      for (let i = 0; i < 5; i++) expect(docs.get(`TodoList/shop-${name}-${i}`)?.open).toBe(1)
      await b.close()
    })
  }

  it("a rejection reaches every tab, and a tab that is not the leader can wait for the server's verdict", async () => {
    const [a, b] = [await env().tab(), await env().tab()]
    for (const t of [a, b]) await t.tp(tp => tp.open({ name: 'verdicts' }))
    await until('a leader', async () => (await a.tp(tp => tp.status().leader)) || (await b.tp(tp => tp.status().leader)))
    const follower = (await a.tp(tp => tp.status().leader)) ? b : a
    await until("the follower mirrors the leader's status", async () => (await follower.tp(tp => tp.status())).phase === 'in-sync')
    expect(await follower.tp(tp => tp.addConfirmed('c', 'confirmed from a follower'))).toBe('confirmed')

    // another device creates a todo while this one is offline and creates the same
    const device2 = await env().browser.newContext()
    const other = await env().tab(device2)
    await other.tp(tp => tp.open({ name: 'verdicts' }))
    await until('the other device is connected', async () => (await other.tp(tp => tp.status())).phase === 'in-sync')
    await env().context.setOffline(true)
    expect(await other.tp(tp => tp.addConfirmed('dup', 'first'))).toBe('confirmed')
    await follower.tp(tp => tp.add('dup', 'first'))
    await env().context.setOffline(false)
    for (const t of [a, b]) {
      await until('the rejection reached the tab', async () => (await t.tp(tp => tp.rejected())).length === 1)
      expect(await t.tp(tp => tp.rejected())).toEqual(['already-exists: dup'])
      expect(await t.tp(tp => tp.storedRejections())).toEqual(['already-exists: dup'])
    }
    await device2.close()
    for (const t of [a, b]) await t.close()
  })

  it('a visible tab takes the lead from a hidden one', async () => {
    const a = await env().tab()
    await a.tp(tp => tp.open({ name: 'hidden' }))
    await until('tab A leads', () => a.tp(tp => tp.status().leader))
    const b = await env().tab()
    await b.tp(tp => tp.open({ name: 'hidden' }))
    await a.tp(tp => tp.setHidden(true))
    await until('tab B leads', () => b.tp(tp => tp.status().leader), 2000)
    expect(await a.tp(tp => tp.status().leader)).toBe(false)
    await a.tp(tp => tp.add('h', 'written in the hidden tab'))
    await until('the visible leader pushed it', async () => (await b.tp(tp => tp.status())).pending === 0 && (await a.tp(tp => tp.pending())) === 0)
    expect(await env().sockets()).toBe(1)
    for (const t of [a, b]) await t.close()
  })

  it('going offline queues writes, and coming back online syncs them', async () => {
    const a = await env().tab()
    await a.tp(tp => tp.open({ name: 'offline' }))
    await until('online and leading', async () => (await a.tp(tp => tp.status())).phase === 'in-sync')
    await env().context.setOffline(true)
    for (let i = 0; i < 3; i++) await a.tp((tp, n) => tp.add('trip', `thing ${n}`), i)
    await until('the tab noticed it is offline', async () => ['offline', 'error'].includes((await a.tp(tp => tp.status())).phase))
    expect(await a.tp(tp => tp.pending())).toBe(3)
    expect(await a.tp(tp => tp.titles('trip'))).toEqual(['thing 0', 'thing 1', 'thing 2'])
    await env().context.setOffline(false)
    await until('synced after coming back', async () => (await a.tp(tp => tp.pending())) === 0, 5000)
    expect((await serverDocs(env().server.url)).get('TodoList/trip')?.open).toBe(3)
    await a.close()
  })

  it('a tab that crashes mid-write leaves whole commits only: every todo is counted in its list and queued in the outbox', async () => {
    const kept = await crashWhileWriting(env(), 'crash', tp => tp.writeForever('c'), 20)
    expect(kept.titles.length).toBeGreaterThanOrEqual(20)
    expect(kept.counted).toBe(kept.titles.length)
    expect(kept.pending).toBe(kept.titles.length)
  })

  it('a tab that crashes during an import leaves whole batches only, each counted in its list and queued as one outbox entry', async () => {
    const kept = await crashWhileWriting(env(), 'crash-import', tp => tp.importForever('c', 500), 2000)
    expect(kept.titles.length).toBeGreaterThanOrEqual(2000)
    expect(kept.titles.length % 500).toBe(0)
    expect(kept.counted).toBe(kept.titles.length)
    expect(kept.pending).toBe(kept.titles.length / 500)
  })

  it('when the leader tab crashes, another takes over within 2 s and pushes what the crashed tab committed', async () => {
    const a = await env().tab()
    await a.tp(tp => tp.open({ name: 'leader-crash' }))
    await until('tab A leads', () => a.tp(tp => tp.status().leader))
    const b = await env().tab()
    await b.tp(tp => tp.open({ name: 'leader-crash' }))
    await a.route('**/v1/push', route => route.abort())
    for (let i = 0; i < 3; i++) await a.tp((tp, n) => tp.add('lc', `before the crash ${n}`), i)
    const crashed = Date.now()
    await crash(a)
    await until('tab B leads', () => b.tp(tp => tp.status().leader), 2000)
    expect(Date.now() - crashed).toBeLessThan(2000)
    await until('tab B pushed the crashed tab’s writes', async () => (await serverDocs(env().server.url)).get('TodoList/lc')?.open === 3)
    await b.close()
    await a.close().catch(() => undefined)
  })

  it('a reload keeps every document and the pending writes', async () => {
    const a = await env().tab()
    await a.tp(tp => tp.open({ name: 'reload', sync: false }))
    for (let i = 0; i < 4; i++) await a.tp((tp, n) => tp.add('garden', `plant ${n}`), i)
    await a.reload()
    await a.waitForFunction(() => 'tp' in window)
    await a.tp(tp => tp.open({ name: 'reload', sync: false }))
    expect(await a.tp(tp => tp.titles('garden'))).toEqual(['plant 0', 'plant 1', 'plant 2', 'plant 3'])
    expect(await a.tp(tp => tp.open_count('garden'))).toBe(4)
    expect(await a.tp(tp => tp.pending())).toBe(4)
    await a.close()
  })
})

describe('IndexedDB in Chromium: upgrades, schema versions, no IndexedDB', () => {
  const env = useBrowserEnv()

  it("another tab's upgrade is not blocked: open tabs step aside and reopen on their next use", async () => {
    const a = await env().tab()
    const b = await env().tab()
    await a.tp(tp => tp.open({ name: 'upgrade', sync: false }))
    await a.tp(tp => tp.watch('u'))
    await a.tp(tp => tp.add('u', 'before'))
    expect(await b.tp(tp => tp.upgradeElsewhere('upgrade'))).toBeGreaterThan(1)
    await a.tp(tp => tp.add('u', 'after'))
    expect(await a.tp(tp => tp.titles('u'))).toEqual(['before', 'after'])
    await until('the live query saw the write after the upgrade', async () => (await a.tp(tp => tp.seen().at(-1)?.titles.length)) === 2)
    await a.close()
    await b.close()
  })

  it('a tab opened with a newer schema version makes older tabs refuse writes with SchemaChangedError, and keeps their reads', async () => {
    const old = await env().tab()
    const newer = await env().tab()
    await old.tp(tp => tp.open({ name: 'schema', sync: false }))
    await old.tp(tp => tp.add('s', 'v1 write'))
    await newer.tp(tp => tp.open({ name: 'schema', sync: false, schemaVersion: 2 }))
    expect(await old.tp(tp => tp.attempt('add'))).toMatch(/^SchemaChangedError: .*schema version 2, newer than this code's 1; reload/)
    expect(await old.tp(tp => tp.titles('s'))).toEqual(['v1 write'])
    expect(await newer.tp(tp => tp.attempt('add'))).toBe('ok')
    await old.close()
    await newer.close()
  })

  it('a tab on version 2 beside a tab on version 1: it reads their todos migrated, and the older tab reads on, writes nothing, and reloads as version 2', async () => {
    const old = await env().tab()
    await old.tp(tp => tp.open({ name: 'rollout', sync: false }))
    await old.tp(tp => tp.add('r', 'v1 write'))
    const newer = await env().tab()
    await newer.tp(tp => tp.open({ name: 'rollout', sync: false, v2: true }))
    expect(await newer.tp(tp => tp.priorities('r'))).toEqual([['v1 write', 1]])
    await newer.tp(tp => tp.addV2('r', 'v2 write', 3))
    // version 1 still reads (a priority is a field it does not know), and is told to reload before it writes
    expect(await old.tp(tp => tp.titles('r'))).toEqual(['v1 write', 'v2 write'])
    expect(await old.tp(tp => tp.attempt('add'))).toMatch(/^SchemaChangedError/)
    await old.tp(tp => tp.close())
    await old.tp(tp => tp.open({ name: 'rollout', sync: false, v2: true }))
    expect(await old.tp(tp => tp.priorities('r'))).toEqual([
      ['v1 write', 1],
      ['v2 write', 3],
    ])
    await old.close()
    await newer.close()
  })

  it('each kind of model change on a real IndexedDB: what open does, what reads return, what queries find, what writes store', async () => {
    const a = await env().tab()
    const run = (kind: ChangeKind) => a.tp((tp, k) => tp.evolve(k), kind)
    // no sync: the user is not known, so no realm is filled in
    const ada = { id: 'a', name: 'Ada Lovelace', size: 1, status: 'stale' }
    expect(await run('add optional')).toEqual({ unbumped: 'opened', bumped: 'opened', read: ada, found: 1, written: { ...ada, status: 'done' } })
    expect(await run('add with default')).toEqual({ unbumped: 'opened', bumped: 'opened', read: { ...ada, colour: 'grey' }, found: 1, written: { ...ada, colour: 'grey', status: 'done' } })
    const required = await run('add required')
    expect(required.unbumped).toMatch(/^InvalidOptionsError: .*Item\.colour: it is a new required field without a default/)
    expect(required).toMatchObject({ bumped: 'opened', read: { ...ada, colour: 'red' }, found: 1, written: { ...ada, colour: 'red', status: 'done' } })
    const type = await run('change type')
    expect(type.unbumped).toMatch(/Item\.size: its type changed from integer to string/)
    expect(type).toMatchObject({ read: { ...ada, size: '1' }, found: 1, written: { ...ada, size: '1', status: 'done' } })
    const narrowed = await run('narrow enum')
    expect(narrowed.unbumped).toMatch(/Item\.status: its enum lost \["stale"\]/)
    expect(narrowed).toMatchObject({ read: { ...ada, status: 'open' }, found: 1 })
    const { name: _name, ...rest } = ada
    expect(await run('rename')).toMatchObject({ read: { ...rest, title: 'Ada Lovelace' }, found: 1, written: { ...rest, title: 'Ada Lovelace', status: 'done' } })
    expect(await run('split')).toMatchObject({ read: { ...rest, first: 'Ada', last: 'Lovelace' }, found: 1, written: { ...rest, first: 'Ada', last: 'Lovelace', status: 'done' } })
    const key = await run('change key')
    expect(key.unbumped).toMatch(/key of Item is declared as \{n:int\}/)
    expect(key.bumped).toMatch(/key of Item is declared as \{n:int\}/)
    await a.close()
  })

  it('without IndexedDB (private modes) the replica falls back to memory and says so loudly', async () => {
    const a = await env().tab()
    await a.tp(tp => tp.open({ name: 'private', sync: false, noIndexedDB: true }))
    const s = await a.tp(tp => tp.storage())
    expect(s.kind).toBe('memory')
    expect(s.fallback).toMatch(/IndexedDB is unavailable.*kept in memory/)
    expect(s.warnings).toEqual([s.fallback])
    await a.tp(tp => tp.add('p', 'still works'))
    expect(await a.tp(tp => tp.titles('p'))).toEqual(['still works'])
    await a.close()
  })
})

// its own origin: Chromium did not apply a quota override to an origin that earlier tests had used
describe('IndexedDB quota in Chromium', () => {
  const env = useBrowserEnv()

  it('a write over the quota fails with StorageError(quota-exceeded) and writes nothing; with space again, writes go on', async () => {
    const a = await env().tab()
    const cdp = await env().context.newCDPSession(a)
    // Chromium applies an override only to an origin whose storage it has already looked at
    await a.evaluate(() => navigator.storage.estimate())
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: env().server.url, quotaSize: 2 * 1024 * 1024 })
    await a.tp(tp => tp.open({ name: 'quota', sync: false }))
    // about 3.3 MB in one transaction: under the 4 MiB a mutation may have, over the 2 MiB quota
    const result = await a.tp(tp => tp.addBig('big', 10_000, 200))
    expect(result).toMatch(/^StorageError: .*quota/)
    expect(await a.tp(tp => tp.titles('big'))).toEqual([])
    // space freed (here: the quota restored), the replica goes on
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: env().server.url })
    expect(await a.tp(tp => tp.attempt('add'))).toBe('ok')
    await a.close()
  })
})

describe('pushes by a service worker (sync: { serviceWorker: true })', () => {
  const env = useBrowserEnv()

  it('the worker pushes what the tabs commit, exactly once, and the tabs hear the verdicts', async () => {
    const [a, b] = [await env().tab(), await env().tab()]
    // the pages may not push: whatever reaches the server came from the worker
    for (const t of [a, b]) await t.route('**/v1/push', route => route.abort())
    for (const t of [a, b]) await t.tp(tp => tp.open({ name: 'sw', serviceWorker: true }))
    await a.tp(tp => tp.add('sw', 'from tab A'))
    await b.tp(tp => tp.add('sw', 'from tab B'))
    await until('the worker pushed both', async () => (await serverDocs(env().server.url)).get('TodoList/sw')?.open === 2)
    for (const t of [a, b]) await until('the tab sees its writes confirmed', async () => (await t.tp(tp => tp.pending())) === 0 && (await t.tp(tp => tp.status())).pending === 0)
    await until('in sync', async () => (await a.tp(tp => tp.status())).phase === 'in-sync' && (await b.tp(tp => tp.status())).phase === 'in-sync')
    expect(await b.tp(tp => tp.addConfirmed('sw', 'confirmed through the worker'))).toBe('confirmed')
    expect((await serverDocs(env().server.url)).get('TodoList/sw')?.open).toBe(2)
    expect((await serverDocs(env().server.url)).has('Todo/sw/confirmed through the worker')).toBe(true)
    for (const t of [a, b]) await t.close()
  })

  it('Background Sync: a write left unpushed when the page closed offline is pushed by the worker once the browser fires sync', async () => {
    const a = await env().tab()
    await a.tp(tp => tp.open({ name: 'bgsync', serviceWorker: true }))
    await until('in sync', async () => (await a.tp(tp => tp.status())).phase === 'in-sync')
    await env().context.setOffline(true)
    await a.tp(tp => tp.add('bg', 'written offline'))
    await new Promise(r => setTimeout(r, 500))
    expect((await serverDocs(env().server.url)).has('TodoList/bg')).toBe(false)
    await a.close()
    await env().context.setOffline(false)
    // the browser fires sync when it sees the network back; here the test fires it through DevTools
    const page = await env().context.newPage()
    await page.goto(`${env().server.url}/health`)
    const cdp = await env().context.newCDPSession(page)
    const registration = new Promise<string>(resolve =>
      cdp.on('ServiceWorker.workerRegistrationUpdated', e => {
        const r = e.registrations.find(x => x.scopeURL.startsWith(env().server.url) && !x.isDeleted)
        if (r) resolve(r.registrationId)
      }),
    )
    await cdp.send('ServiceWorker.enable')
    await cdp.send('ServiceWorker.dispatchSyncEvent', { origin: env().server.url, registrationId: await registration, tag: 'tidepool-push:tidepool:bgsync', lastChance: false })
    await until('the worker pushed the write', async () => (await serverDocs(env().server.url)).get('TodoList/bg')?.open === 1)
    await page.close()
  })
})

describe('users and realms in the tabs of Chromium', () => {
  const SECRET = 'tabs-secret'
  const env = useBrowserEnv({ secret: SECRET })
  const sign = (sub: string) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET))

  it('signing out in one tab signs out every tab and clears the shared replica', async () => {
    const token = await sign('tab-ann')
    const tabs = [await env().tab(), await env().tab()]
    for (const t of tabs) await t.tp((tp, o) => tp.open(o), { name: 'sign-out', token })
    for (const t of tabs) await t.tp(tp => tp.watch('home'))
    await tabs[0]!.tp(tp => tp.add('home', 'water plants'))
    await tabs[1]!.tp(tp => tp.add('home', 'fix door'))
    for (const t of tabs) await until('every tab sees both todos', async () => (await t.tp(tp => tp.seen().at(-1)?.titles.length)) === 2)
    await until('the writes reached the server', async () => (await tabs[0]!.tp(tp => tp.pending())) === 0)
    await until('the replica knows its user', async () => (await tabs[1]!.tp(tp => tp.userId())) === 'tab-ann')
    expect(await tabs[1]!.tp(tp => tp.signOut('push'))).toBe(0)
    for (const t of tabs) {
      await until('every tab sees the replica emptied', async () => (await t.tp(tp => tp.seen().at(-1)?.titles.length)) === 0)
      await until('every tab is signed out', async () => (await t.tp(tp => tp.userId())) === undefined)
      expect(await t.tp(tp => tp.titles('home'))).toEqual([])
    }
    for (const t of tabs) await t.close()
  })

  it('a sign-out holds when another tab, with the same token, takes over the connection', async () => {
    const token = await sign('tab-dee')
    const a = await env().tab()
    await a.tp((tp, o) => tp.open(o), { name: 'handover-out', token })
    await until('tab A leads', () => a.tp(tp => tp.status().leader))
    const b = await env().tab()
    await b.tp((tp, o) => tp.open(o), { name: 'handover-out', token })
    await a.tp(tp => tp.add('home', 'plants'))
    await until('the write reached the server', async () => (await a.tp(tp => tp.pending())) === 0 && (await a.tp(tp => tp.userId())) === 'tab-dee')
    expect(await a.tp(tp => tp.signOut('push'))).toBe(0)
    await a.close()
    await until('tab B leads', () => b.tp(tp => tp.status().leader), 5000)
    await until('tab B says it is signed out', async () => (await b.tp(tp => tp.status())).phase === 'signed-out')
    expect(await b.tp(tp => tp.titles('home'))).toEqual([])
    expect(await b.tp(tp => tp.userId())).toBeUndefined()
    await b.close()
  })

  it('a revoke evicts the realm in every tab', async () => {
    const ann = await openDatabase({ name: 'ann', models, sync: { url: env().server.url, token: () => sign('realm-ann'), pollInterval: 3_600_000 } })
    await ann.run(tx => {
      tx.create(Realm, { id: 'tabs-shared', name: 'shared' })
      tx.create(Member, { realmId: 'tabs-shared', userId: 'realm-bob', roles: ['read'] })
      tx.create(TodoList, { id: 'shared', realmId: 'tabs-shared', name: 'shared', createdAt: 1, open: 1 })
      tx.create(Todo, { id: 'shared/plan', realmId: 'tabs-shared', list: 'shared', title: 'plan', done: false, createdAt: 1 })
    })
    await ann.sync!.syncNow()
    const token = await sign('realm-bob')
    const tabs = [await env().tab(), await env().tab()]
    for (const t of tabs) await t.tp((tp, o) => tp.open(o), { name: 'revoke', token })
    for (const t of tabs) await t.tp(tp => tp.watch('shared'))
    for (const t of tabs) await until('every tab of bob sees the shared list', async () => (await t.tp(tp => tp.seen().at(-1)?.titles.join())) === 'plan')
    await ann.run(tx => tx.delete(Member.key({ realmId: 'tabs-shared', userId: 'realm-bob' })))
    await ann.sync!.syncNow()
    // the leader tab is poked, pulls, and evicts; the other tab hears it
    for (const t of tabs) await until('every tab lost the realm', async () => (await t.tp(tp => tp.seen().at(-1)?.titles.length)) === 0, 10_000)
    for (const t of tabs) await t.close()
    await ann.close()
  })
})
