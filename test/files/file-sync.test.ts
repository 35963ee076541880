import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ClosedError, Model, S, openDatabase, type Database } from '../../src/index.js'
import { memoryFileStore, type FileStore } from '../../src/files/store.js'
import { webdavStore } from '../../src/files/webdav.js'
import { folderStore } from '../../src/files/folder.js'
import { startWebdav } from '../helpers/webdav.js'
import { until } from '../helpers/until.js'
import { decodeClock, encodeClock, MAX_DRIFT } from '../../src/core/hlc.js'
import { clientIndexPath, FORMAT, partPath, serialize } from '../../src/files/layout.js'
import type { LoggedMutation } from '../../src/core/mutation.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, likes: S.int.default(0), tags: S.arr(S.str).default([]) }
  static override INDEXES = [['likes']]
}

const open = (files: FileStore[], label?: string) => openDatabase({ name: 'notes', models: [Note], files: { stores: files, interval: 0, ...(label ? { label } : {}), onWarning: () => undefined } })
const notes = async (db: Database) => (await db.query(Note).orderBy('likes').fetch()).map(n => `${n.id}:${n.text}:${n.likes}`)

describe('serverless sync through a file store', () => {
  it('two replicas exchange writes; increments add up; a later delete wins over an earlier field write', async () => {
    const store = memoryFileStore()
    const [a, b] = [await open([store], 'laptop'), await open([store], 'phone')]
    await a.run(tx => void tx.create(Note, { id: 'n1', text: 'from a' }))
    await b.run(tx => void tx.create(Note, { id: 'n2', text: 'from b', likes: 5 }))
    await a.files.sync()
    await b.files.sync()
    await a.files.sync()
    expect(await notes(a)).toEqual(['n1:from a:0', 'n2:from b:5'])
    expect(await notes(b)).toEqual(await notes(a))

    await a.run(async tx => (await tx.get(Note, 'n2'))!.getField('likes').incrementBy(1))
    await b.run(async tx => (await tx.get(Note, 'n2'))!.getField('likes').incrementBy(2))
    await b.run(async tx => void ((await tx.get(Note, 'n1'))!.text = 'edited by b'))
    await a.run(async tx => tx.delete((await tx.get(Note, 'n1'))!))
    for (const db of [a, b, a]) await db.files.sync()
    expect(await notes(a)).toEqual(['n2:from b:8'])
    expect(await notes(b)).toEqual(['n2:from b:8'])
    expect(await a.pendingMutations()).toEqual([])
    expect(a.stats().files).toMatchObject({ syncs: 4, merged: 3, stores: 1, peers: 0, lastError: undefined })
    expect(a.stats().files!.bytesRead).toBeGreaterThan(0)
    for (const db of [a, b]) await db.close()
  })

  it('nothing changed: a sync reads only the indexes', async () => {
    const store = memoryFileStore()
    const [a, b] = [await open([store]), await open([store])]
    await a.run(tx => {
      for (let i = 0; i < 200; i++) tx.create(Note, { id: `n${i}`, text: 'x'.repeat(100) })
    })
    await a.files.sync()
    const first = await b.files.sync()
    expect(first.merged).toBe(1)
    const again = await b.files.sync()
    expect(again.merged).toBe(0)
    expect(again.bytesRead).toBeLessThan(2000)
    expect(again.bytesRead).toBeGreaterThan(0)
    for (const db of [a, b]) await db.close()
  })

  it('a closed database syncs no more: linking or syncing then is a ClosedError, and nothing runs by itself', async () => {
    const db = await openDatabase({ name: 'closed', models: [Note], files: { interval: 20 } })
    const files = db.files
    await db.close()
    const store = memoryFileStore()
    expect(() => files.link(store)).toThrow(ClosedError)
    await expect(files.sync()).rejects.toBeInstanceOf(ClosedError)
    expect(files.stats.syncs).toBe(0)
    expect(await store.list('')).toEqual([])
  })

  it('a sign-out starts the next identity from nothing: it merges everything again, the old identity\'s writes as another client\'s, each counted once', async () => {
    const store = memoryFileStore()
    const [x, y] = [await open([store]), await open([store])]
    // both orders of the two client ids: the other device's write merges before the old identity's, or after
    for (const [a, d] of [
      [x, y],
      [y, x],
    ] as const) {
      await d.run(tx => void tx.createOrOverwrite(Note, { id: 'n', text: 't', likes: 0 }))
      for (const db of [d, a]) await db.files.sync()
      await d.run(async tx => (await tx.get(Note, 'n'))!.getField('likes').incrementBy(1))
      await a.run(async tx => (await tx.get(Note, 'n'))!.getField('likes').incrementBy(1))
      await a.files.sync()
      await a.signOut()
      expect(await notes(a)).toEqual([])
      for (const db of [d, a, d]) await db.files.sync()
      expect(await notes(a)).toEqual(['n:t:2'])
      expect(await notes(d)).toEqual(['n:t:2'])
    }
    for (const db of [x, y]) await db.close()
  })

  it('refuses a bad interval or part size, naming the option', async () => {
    await expect(openDatabase({ name: 'x', models: [Note], files: { interval: -5 } })).rejects.toThrow(/files\.interval: must be a whole number/)
    await expect(openDatabase({ name: 'x', models: [Note], files: { partBytes: 10 } })).rejects.toThrow(/files\.partBytes: must be a whole number of bytes, 256 or more/)
  })

  it('a replica syncs with a server or through files, not both', async () => {
    await expect(openDatabase({ name: 'x', models: [Note], sync: { url: 'http://127.0.0.1:1' }, files: [memoryFileStore()] })).rejects.toThrow(/either with a server .* or through files/)
  })
})

describe('half-synced and corrupt files', () => {
  it('are reported and skipped without advancing, never crash a replica or touch its own data, and merge once repaired', async () => {
    const store = memoryFileStore()
    const warnings: string[] = []
    const a = await open([store], 'a')
    const b = await openDatabase({ name: 'notes', models: [Note], files: { stores: [store], interval: 0, onWarning: w => warnings.push(w) } })
    await b.run(tx => void tx.create(Note, { id: 'mine', text: 'b’s own' }))
    await a.run(tx => void tx.create(Note, { id: 'n1', text: 'first' }))
    await a.files.sync()
    await a.run(tx => void tx.create(Note, { id: 'n2', text: 'second' }))
    await a.files.sync()
    const [part] = (await store.list('')).filter(p => /client-.*\/part-/.test(p) && !p.includes(b.clientId))
    const whole = (await store.read(part!))!
    await store.write(part!, whole.slice(0, whole.length / 2))
    const skipped = await b.files.sync()
    expect(skipped.merged).toBe(0)
    expect(skipped.skipped).toEqual([`${store.url}${part}`])
    expect(warnings.join('\n')).toMatch(/part-.*not valid JSON .*truncated or half-synced/)
    expect(await notes(b)).toEqual(['mine:b’s own:0'])

    // a garbage client index and master index are skipped too; the listing still finds the client
    const index = part!.replace(/part-\d+\.json$/, 'client-index.json')
    const goodIndex = (await store.read(index))!
    await store.write(index, '{"format":1,"clientId":')
    await store.write('tidepool-notes/master-index.json', 'garbage')
    expect((await b.files.sync()).skipped).toHaveLength(2)
    await store.write(index, goodIndex)
    await store.write(part!, whole)
    const repaired = await b.files.sync()
    expect(repaired.merged).toBe(2)
    expect(await notes(b)).toEqual(['mine:b’s own:0', 'n1:first:0', 'n2:second:0'])
    // b's own upload rewrote a readable master index
    await a.files.sync()
    expect(await notes(a)).toEqual(await notes(b))
    for (const db of [a, b]) await db.close()
  })
})

describe('several processes and users', () => {
  for (const medium of ['folder', 'webdav'] as const) {
    it(`replicas in separate processes sync through one ${medium === 'folder' ? 'folder' : 'WebDAV share'}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tidepool-shared-'))
      const dav = medium === 'webdav' ? await startWebdav() : undefined
      try {
        const where = dav ? `${dav.url}/shared` : join(dir, 'folder')
        const store = dav ? webdavStore(where, { username: dav.username, password: dav.password }) : folderStore(where)
        // the note everyone will like exists before they start (concurrent creates of one document: the newest wins)
        const first = await openDatabase({ name: 'shared', models: [Note], files: { stores: [store], interval: 0 } })
        await first.run(tx => void tx.create(Note, { id: 'shared', text: 'liked by all' }))
        await first.files.sync()
        await first.close()
        const env = { ...process.env, ...(dav ? { TIDEPOOL_WEBDAV_USER: dav.username, TIDEPOOL_WEBDAV_PASSWORD: dav.password } : {}) }
        const run = (label: string) =>
          new Promise<{ label: string; notes: Array<[string, number]> }>((resolve, reject) => {
            const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'folder-client.ts'), where, join(dir, `${label}.db`), label, '12', String(3 * 12 + 1)], { stdio: ['ignore', 'pipe', 'pipe'], env })
            let out = ''
            let err = ''
            child.stdout.on('data', d => (out += d))
            child.stderr.on('data', d => (err += d))
            child.on('exit', code => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`${label} exited ${code}: ${err}`))))
          })
        const results = await Promise.all(['ann', 'bob', 'cy'].map(run))
        for (const r of results) {
          expect(r.notes).toHaveLength(37)
          expect(r.notes.find(([id]) => id === 'shared')).toEqual(['shared', 36])
        }
      } finally {
        await dav?.close()
        rmSync(dir, { recursive: true, force: true })
      }
    }, 60_000)
  }

  it('two users on a real WebDAV server share by master-index address', async () => {
    const dav = await startWebdav()
    try {
      const auth = { username: dav.username, password: dav.password }
      const alice = await open([webdavStore(`${dav.url}/alice`, auth)], 'alice')
      const bob = await open([webdavStore(`${dav.url}/bob`, auth)], 'bob')
      await alice.run(tx => void tx.create(Note, { id: 'from-alice', text: 'hi bob' }))
      await bob.run(tx => void tx.create(Note, { id: 'from-bob', text: 'hi alice' }))
      await alice.files.sync()
      await bob.files.sync()
      expect(alice.files.shareUrl()).toBe(`${dav.url}/alice/tidepool-notes/master-index.json`)
      await bob.files.addPeer(alice.files.shareUrl(), auth)
      await alice.files.addPeer(bob.files.shareUrl(), auth)
      await bob.files.sync()
      await alice.files.sync()
      expect(await notes(alice)).toEqual(['from-alice:hi bob:0', 'from-bob:hi alice:0'])
      expect(await notes(bob)).toEqual(await notes(alice))
      // bob's master index names alice's, so bob's other devices find her too
      const master = JSON.parse((await webdavStore(`${dav.url}/bob`, auth).read('tidepool-notes/master-index.json'))!) as { peers: Record<string, unknown> }
      expect(Object.keys(master.peers)).toEqual([alice.files.shareUrl()])
      for (const db of [alice, bob]) await db.close()
    } finally {
      await dav.close()
    }
  })
})

describe('fromUrl', () => {
  it('starts a new replica from a database address, and brings an existing one up to date without duplicates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-from-url-'))
    try {
      const laptop = await open([folderStore(dir)], 'laptop')
      await laptop.run(tx => void tx.create(Note, { id: 'n1', text: 'from the laptop', likes: 1 }))
      await laptop.files.sync()
      const phone = await openDatabase({ name: 'notes', models: [Note], files: { interval: 0 } })
      const first = await phone.files.fromUrl(laptop.files.shareUrl())
      expect(first.merged).toBe(1)
      expect(await notes(phone)).toEqual(['n1:from the laptop:1'])
      await laptop.run(async tx => (await tx.get(Note, 'n1'))!.getField('likes').incrementBy(1))
      await laptop.files.sync()
      // again, on a replica that already holds the database
      expect((await phone.files.fromUrl(laptop.files.shareUrl())).merged).toBe(1)
      expect(await notes(phone)).toEqual(['n1:from the laptop:2'])
      await expect(phone.files.fromUrl('file:///tmp/tidepool-other/master-index.json')).rejects.toThrow(/not the master index of database notes/)
      for (const db of [laptop, phone]) await db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('several linked stores', () => {
  it('a client seen through two stores is merged once, and each store gets every mutation', async () => {
    const [home, work] = [memoryFileStore('home'), memoryFileStore('work')]
    const a = await open([home, work], 'a')
    const c = await open([home, work], 'c')
    const b = await open([work], 'b')
    for (let i = 0; i < 3; i++) await a.run(async tx => void tx.createOrOverwrite(Note, { id: 'shared', text: `v${i}` }))
    await a.run(async tx => (await tx.get(Note, 'shared'))!.getField('likes').incrementBy(5))
    await a.files.sync()
    const r = await c.files.sync()
    expect(r.merged).toBe(4)
    expect(await notes(c)).toEqual(['shared:v2:5'])
    await b.files.sync()
    expect(await notes(b)).toEqual(['shared:v2:5'])
    for (const s of [home, work]) expect((await s.list('')).filter(p => p.includes(a.clientId))).toHaveLength(2)
    for (const db of [a, b, c]) await db.close()
  })
})

describe('the master index under concurrent writers', () => {
  it('with conditional writes, clients updating it at once all end up in it', async () => {
    const store = memoryFileStore()
    const dbs = await Promise.all(['a', 'b', 'c', 'd'].map(label => open([store], label)))
    for (const db of dbs) await db.run(tx => void tx.create(Note, { id: db.clientId, text: 'hi' }))
    await Promise.all(dbs.map(db => db.files.sync()))
    const master = JSON.parse((await store.read('tidepool-notes/master-index.json'))!) as { clients: Record<string, unknown> }
    expect(Object.keys(master.clients).sort()).toEqual(dbs.map(d => d.clientId).sort())
    for (const db of dbs) await db.close()
  })
})

describe('clocks', () => {
  it('a client whose clock runs far ahead is merged and reported, and moves local clocks only 5 minutes ahead', async () => {
    const store = memoryFileStore()
    const warnings: string[] = []
    const db = await openDatabase({ name: 'notes', models: [Note], files: { stores: [store], interval: 0, onWarning: w => warnings.push(w) } })
    const ahead = encodeClock({ wall: Date.now() + 24 * 3600_000, counter: 0 })
    const mutation = { seq: 1, id: 'm1', hlc: ahead, time: 0, ops: [{ type: 'create', collection: 'Note', id: 'future', data: { id: 'future', text: 'from tomorrow', likes: 0, tags: [] } }] }
    const part = serialize({ format: FORMAT, clientId: 'skewed', first: 1, mutations: [mutation as LoggedMutation] })
    await store.write(partPath('notes', 'skewed', 1), part)
    await store.write(clientIndexPath('notes', 'skewed'), serialize({ format: FORMAT, clientId: 'skewed', label: 'skewed', latest: 1, updated: '', parts: [{ first: 1, last: 1, bytes: part.length }], lastReceived: {} }))
    const report = await db.files.sync()
    expect(report.clamped).toEqual(['skewed'])
    expect(warnings.join()).toMatch(/client skewed's clock runs more than 5 minutes ahead/)
    // this replica's clock moved only 5 minutes ahead: a write made now is older, by the clocks, than the skewed
    // create, which stays the newest on every replica until the clocks agree (what the warning says)
    await db.run(async tx => void ((await tx.get(Note, 'future'))!.text = 'edited today'))
    const wall = decodeClock((await db.pendingMutations())[0]!.hlc!)!.wall
    expect(wall).toBeGreaterThan(Date.now() + MAX_DRIFT - 60_000)
    expect(wall).toBeLessThanOrEqual(Date.now() + MAX_DRIFT)
    await db.files.sync()
    expect((await db.run(tx => tx.get(Note, 'future')))?.text).toBe('from tomorrow')
    const other = await openDatabase({ name: 'notes', models: [Note], files: { stores: [store], interval: 0, onWarning: () => undefined } })
    await other.files.sync()
    expect((await other.run(tx => tx.get(Note, 'future')))?.text).toBe('from tomorrow')
    for (const d of [db, other]) await d.close()
  })
})

describe('periodic sync', () => {
  it('syncs by itself once a store is linked, keeps going through failures (reporting the last one), and stops on close', async () => {
    const shared = memoryFileStore()
    let failing = true
    const flaky: FileStore = {
      url: shared.url,
      list: p => shared.list(p),
      read: async p => {
        if (failing) throw new Error('the share is unreachable')
        return shared.read(p)
      },
      write: (p, d) => shared.write(p, d),
      delete: p => shared.delete(p),
    }
    const a = await open([shared], 'a')
    await a.run(tx => void tx.create(Note, { id: 'n1', text: 'synced by itself' }))
    await a.files.sync()
    const b = await openDatabase({ name: 'notes', models: [Note], files: { interval: 20, onWarning: () => undefined } })
    b.files.link(flaky)
    await until('a failure is reported', () => b.stats().files?.lastError === 'the share is unreachable')
    failing = false
    await until('the note arrives without anyone calling sync()', async () => (await notes(b)).length === 1, 5000)
    expect(b.stats().files?.lastError).toBeUndefined()
    await b.close()
    await a.close()
  })
})

describe('sync() while a round runs', () => {
  it('resolves after a round that sees what was committed before the call', async () => {
    const shared = memoryFileStore()
    let release: () => void = () => undefined
    const gate = new Promise<void>(r => (release = r))
    let blocked = false
    // holds the first upload at its first write, after it has read what to upload
    const gated: FileStore = {
      url: shared.url,
      list: p => shared.list(p),
      read: p => shared.read(p),
      write: async (p, d) => {
        if (!blocked) {
          blocked = true
          await gate
        }
        return shared.write(p, d)
      },
      delete: p => shared.delete(p),
    }
    const a = await open([gated], 'a')
    const b = await open([shared], 'b')
    await a.run(tx => void tx.create(Note, { id: 'early', text: 'before the round' }))
    const early = a.files.sync()
    await until('the round is writing', () => blocked)
    await a.run(tx => void tx.create(Note, { id: 'late', text: 'committed during the round' }))
    const next = a.files.sync()
    release()
    expect((await early).uploaded).toBe(1)
    expect((await next).uploaded).toBe(1)
    await b.files.sync()
    expect(await notes(b)).toEqual(['early:before the round:0', 'late:committed during the round:0'])
    for (const db of [a, b]) await db.close()
  })
})
