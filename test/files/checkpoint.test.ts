import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import { describe, expect, it, vi } from 'vitest'
import { Model, S, openDatabase, type Database } from '../../src/index.js'
import { sqliteStorage } from '../../src/sqlite.js'
import { indexedDbStorage } from '../../src/indexeddb.js'
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb'
import { memoryFileStore, type FileStore } from '../../src/files/store.js'
import { CorruptFileError } from '../../src/core/errors.js'
import { clientFolder, clientIndexPath, parseCheckpoint, parseClientIndex, partPath } from '../../src/files/layout.js'
import { MergeLog } from '../../src/files/merge-log.js'
import { forgetClient } from '../../src/files/transfer.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, likes: S.int.default(0) }
}

const PART = 1024
const open = (stores: FileStore[], storage?: ReturnType<typeof sqliteStorage> | ReturnType<typeof indexedDbStorage>) =>
  openDatabase({ name: 'notes', models: [Note], ...(storage ? { storage } : {}), files: { stores, interval: 0, partBytes: PART, onWarning: () => undefined } })
const state = async (db: Database) => JSON.stringify((await db.query(Note).fetch()).map(n => [n.id, n.text, n.likes]))
const like = (db: Database, id: string, by = 1) => db.run(async tx => (await tx.get(Note, id))!.getField('likes').incrementBy(by))
const edit = (db: Database, id: string, text: string) => db.run(async tx => void ((await tx.get(Note, id))!.text = text))
const filesOf = async (store: FileStore, db: Database) => (await store.list(clientFolder('notes', db.clientId))).map(p => p.slice(clientFolder('notes', db.clientId).length)).sort()
const indexOf = async (store: FileStore, db: Database) => parseClientIndex('index', (await store.read(clientIndexPath('notes', db.clientId)))!)

/** A store where `b` has written and synced one note, and `a` has since edited another 40 times (parts' worth, not yet uploaded). */
async function editsAfter(note: { id: string; text: string }): Promise<{ store: FileStore; a: Database; b: Database }> {
  const store = memoryFileStore()
  const [a, b] = [await open([store]), await open([store])]
  await b.run(tx => void tx.create(Note, note))
  await b.files.sync()
  await a.run(tx => void tx.create(Note, { id: 'n', text: 'x' }))
  for (let i = 0; i < 40; i++) await edit(a, 'n', `edit ${i} ${'y'.repeat(80)}`)
  return { store, a, b }
}

describe('file-sync checkpoints', () => {
  it('replace the parts every listed client has read past; a client offline across them and a new device converge, increments counted once', async () => {
    const store = memoryFileStore()
    const [a, b] = [await open([store]), await open([store])]
    await a.run(tx => {
      for (let i = 0; i < 5; i++) tx.create(Note, { id: `n${i}`, text: 'first' })
    })
    await b.run(tx => void tx.create(Note, { id: 'b0', text: 'from b' }))
    let likes = 0
    for (let i = 0; i < 3; i++, likes++) await like(a, 'n0')
    for (const db of [a, b, a]) await db.files.sync()
    // c reads a's first mutations, increments among them, and goes offline without ever writing to the store
    const c = await open([store])
    await c.files.sync()
    expect(await state(c)).toBe(await state(a))
    await like(c, 'n0', 10)
    await edit(c, 'n1', 'edited offline by c')
    likes += 10

    // a writes many parts' worth, b keeps reading (and says so in its index)
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 5; i++) await edit(a, `n${i}`, `round ${round} ${'x'.repeat(60)}`)
      await like(a, 'n0')
      likes++
      await like(b, 'n0', 2)
      likes += 2
      for (const db of [a, b]) await db.files.sync()
    }
    const index = await indexOf(store, a)
    expect(index.format).toBe(2)
    expect(index.checkpoint?.last).toBeGreaterThan(8)
    expect(index.parts[0]?.first).toBe(index.checkpoint!.last + 1)
    // the parts it replaced are gone
    expect((await filesOf(store, a)).filter(f => f.startsWith('part-')).length).toBe(index.parts.length)
    expect((await filesOf(store, a)).filter(f => f.startsWith('checkpoint-')).length).toBe(index.checkpoint!.files.length)

    // c comes back: it had some of what the checkpoint covers, and reads the rest from it
    await c.files.sync()
    for (const db of [a, b, c, a, b]) await db.files.sync()
    const d = await open([store])
    await d.files.sync()
    const expected = await state(a)
    for (const db of [b, c, d]) expect(await state(db)).toBe(expected)
    const n0 = await a.run(tx => tx.get(Note, 'n0'))
    expect(n0!.likes).toBe(likes)
    expect((await a.run(tx => tx.get(Note, 'n1')))!.text).toMatch(/^round 11/)
    for (const db of [a, b, c, d]) await db.close()
  })

  it('wait for every client listed: one that read less holds them back', async () => {
    const { store, a, b: slow } = await editsAfter({ id: 's', text: 'listed' })
    for (let i = 0; i < 3; i++) await a.files.sync()
    expect((await indexOf(store, a)).checkpoint).toBeUndefined()
    expect((await indexOf(store, a)).parts.length).toBeGreaterThan(2)
    // once the slow client has read everything (and written its index), a may checkpoint
    await slow.files.sync()
    await slow.files.sync()
    await a.files.sync()
    const index = await indexOf(store, a)
    expect(index.checkpoint).toBeDefined()
    expect(index.parts.length).toBeLessThanOrEqual(2)
    for (const db of [a, slow]) await db.close()
  })

  it('are held back no more by a client forgotten as lost; its data stays readable, and it is listed again when it syncs', async () => {
    const { store, a, b: lost } = await editsAfter({ id: 'l', text: 'from the lost device' })
    for (let i = 0; i < 2; i++) await a.files.sync()
    expect((await indexOf(store, a)).checkpoint).toBeUndefined()
    await expect(forgetClient('notes', store, 'nobody')).rejects.toThrow(/no client nobody in database notes/)
    await forgetClient('notes', store, lost.clientId)
    await a.files.sync()
    expect((await indexOf(store, a)).checkpoint).toBeDefined()
    const d = await open([store])
    await d.files.sync()
    expect(await state(d)).toBe(await state(a))
    expect(await state(d)).toContain('from the lost device')
    // the lost device comes back, only to read: it reads the checkpoint, and holds checkpoints back again
    const marker = `${clientFolder('notes', lost.clientId)}forgotten.json`
    expect(await store.read(marker)).toBeDefined()
    await lost.files.sync()
    expect(await store.read(marker)).toBeUndefined()
    expect(await state(lost)).toBe(await state(a))
    for (const db of [a, lost, d]) await db.close()
  })

  it('keep a client\'s folder and every replica\'s event log bounded by the documents, not by their history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-cp-'))
    try {
      const store = memoryFileStore()
      const a = await open([store])
      const b = await open([store], sqliteStorage(join(dir, 'b.db')))
      await a.run(tx => void tx.create(Note, { id: 'n', text: 'x' }))
      const sizes: number[] = []
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 25; i++) await edit(a, 'n', `round ${round} edit ${i} ${'z'.repeat(40)}`)
        for (const db of [a, b]) await db.files.sync()
        const index = await indexOf(store, a)
        sizes.push(index.parts.reduce((n, p) => n + p.bytes, 0) + (index.checkpoint?.files ?? []).reduce((n, f) => n + f, 0))
        expect((await filesOf(store, a)).length).toBeLessThanOrEqual(1 + 1 + 9)
      }
      expect(await state(b)).toBe(await state(a))
      // 500 edits of one document, about 6 parts a round: a's folder holds a checkpoint and the parts since, never the history
      expect(Math.max(...sizes)).toBeLessThan(10 * PART)
      expect(sizes.at(-1)!).toBeLessThanOrEqual(Math.max(...sizes.slice(0, 5)))
      await b.close()
      const sqlite = new Sqlite(join(dir, 'b.db'), { readonly: true })
      const events = (sqlite.prepare('SELECT count(*) AS n FROM tp_events').get() as { n: number }).n
      sqlite.close()
      expect(events).toBeLessThanOrEqual(3)
      await a.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('a damaged checkpoint', () => {
  it('is skipped for its client alone, reported, and merged once repaired; an op filed under another document is refused', async () => {
    const store = memoryFileStore()
    const [a, b] = [await open([store]), await open([store])]
    await a.run(tx => void tx.create(Note, { id: 'n', text: 'x' }))
    for (let i = 0; i < 40; i++) await edit(a, 'n', `edit ${i} ${'v'.repeat(80)}`)
    await a.files.sync()
    await a.files.sync()
    const cp = (await indexOf(store, a)).checkpoint!
    expect(cp).toBeDefined()
    await b.run(tx => void tx.create(Note, { id: 'b', text: 'from b' }))
    await b.files.sync()
    const [path] = (await filesOf(store, a)).filter(f => f.startsWith('checkpoint-')).map(f => clientFolder('notes', a.clientId) + f)
    const good = (await store.read(path!))!
    const forged = JSON.parse(good) as { docs: Array<[string, unknown]> }
    // the same length, so that only what it says is wrong
    forged.docs[0]![0] = 'Note\u0000m'

    for (const bad of [good.slice(0, good.length / 2), JSON.stringify(forged)]) {
      await store.write(path!, bad)
      const c = await open([store])
      const report = await c.files.sync()
      expect(report.skipped).toEqual([`${store.url}${path}`])
      // b's note came; nothing of a's, and the cursor did not move
      expect(await state(c)).toBe(JSON.stringify([['b', 'from b', 0]]))
      await store.write(path!, good)
      await c.files.sync()
      expect(await state(c)).toBe(await state(b))
      await c.close()
    }
    for (const db of [a, b]) await db.close()
  })
})

describe('checkpoint files and the indexes naming them', () => {
  const clock = '001700000000000.000000'
  const file = { format: 2, clientId: 'c', last: 2, hlc: clock, of: 1, docs: [['Note\u0000n', [[clock, 2, [{ type: 'delete', collection: 'Note', id: 'n' }]]]]] }
  const index = { format: 2, clientId: 'c', label: '', latest: 3, updated: '', parts: [], checkpoint: { last: 2, files: [100] }, lastReceived: {} }
  it('are refused when malformed, with what is wrong; a reader from before checkpoints refuses them by their format', () => {
    expect(parseCheckpoint('cp', JSON.stringify(file)).docs).toHaveLength(1)
    expect(parseClientIndex('index', JSON.stringify(index)).checkpoint).toEqual({ last: 2, files: [100] })
    const refused = (parse: (p: string, t: string) => unknown, value: object, message: RegExp) => {
      expect(() => parse('f', JSON.stringify(value))).toThrow(CorruptFileError)
      expect(() => parse('f', JSON.stringify(value))).toThrow(message)
    }
    refused(parseCheckpoint, { ...file, docs: [['Note\u0000n', [['zzzz', 2, []]]]] }, /an event of document .* is malformed/)
    // a clock later than the checkpoint's own would win over every later write of others
    refused(parseCheckpoint, { ...file, docs: [['Note\u0000n', [['001800000000000.000000', 2, []]]]] }, /an event of document .* is malformed/)
    refused(parseCheckpoint, { ...file, docs: [['Note\u0000n', [[clock, 3, []]]]] }, /malformed/)
    refused(parseCheckpoint, { ...file, of: undefined }, /not a checkpoint file/)
    refused(parseCheckpoint, { ...file, format: 3 }, /format 3 is not 1 or 2/)
    refused(parseClientIndex, { ...index, checkpoint: { last: 2, files: [] } }, /checkpoint entry is malformed/)
    refused(parseClientIndex, { ...index, checkpoint: { last: 4, files: [100] } }, /checkpoint entry is malformed/)
  })
})

describe('a crash while checkpointing', () => {
  it('before the replica records the checkpoint leaves every file its next index names; a new device converges', async () => {
    const { store, a, b } = await editsAfter({ id: 'b', text: 'b' })
    await a.files.sync()
    await b.files.sync()
    await b.files.sync()
    // a writes a checkpoint and its index, and dies before its replica records them
    const record = MergeLog.prototype.setState
    let crashed = false
    const spy = vi.spyOn(MergeLog.prototype, 'setState').mockImplementation(async function (this: MergeLog, key: string, value: unknown) {
      if (!crashed && key.startsWith('uploaded/') && (value as { checkpoint?: unknown }).checkpoint) {
        crashed = true
        throw new Error('crashed')
      }
      return record.call(this, key, value)
    })
    await expect(a.files.sync()).rejects.toThrow('crashed')
    spy.mockRestore()
    expect((await indexOf(store, a)).checkpoint).toBeDefined()
    // then a round without a checkpoint (b's index half-synced): a's index is written again from what its replica recorded
    const bIndex = clientIndexPath('notes', b.clientId)
    const good = (await store.read(bIndex))!
    await store.write(bIndex, good.slice(0, 10))
    await edit(a, 'n', 'after the crash')
    await a.files.sync()
    await store.write(bIndex, good)
    const index = await indexOf(store, a)
    const present = new Set(await store.list(clientFolder('notes', a.clientId)))
    expect(index.parts.filter(p => !present.has(partPath('notes', a.clientId, p.first)))).toEqual([])

    const d = await open([store])
    await d.run(tx => void tx.create(Note, { id: 'd', text: 'd' }))
    for (let round = 0; round < 3; round++) for (const db of [d, a, b]) await db.files.sync()
    expect(await state(d)).toBe(await state(a))
    expect(await state(b)).toBe(await state(a))
    for (const db of [a, b, d]) await db.close()
  })
})

describe('the own log', () => {
  it('is folded once every store has a checkpoint of it; a store linked later gets a checkpoint of what was folded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-own-'))
    try {
      const [first, later] = [memoryFileStore('first'), memoryFileStore('later')]
      const a = await open([first], sqliteStorage(join(dir, 'a.db')))
      await a.run(tx => {
        for (let i = 0; i < 3; i++) tx.create(Note, { id: `n${i}`, text: 'x' })
      })
      for (let i = 0; i < 200; i++) await edit(a, `n${i % 3}`, `edit ${i} ${'w'.repeat(40)}`)
      await a.files.sync()
      await a.files.sync()
      expect((await indexOf(first, a)).checkpoint).toBeDefined()
      const folded = (await indexOf(first, a)).checkpoint!.last

      a.files.link(later)
      await a.files.sync()
      const index = await indexOf(later, a)
      expect(index.checkpoint?.last).toBeGreaterThanOrEqual(folded)
      const reader = await open([later])
      await reader.files.sync()
      expect(await state(reader)).toBe(await state(a))
      await reader.close()
      await a.close()

      // what stays of 201 own mutations: the compacted base (a create and a last edit per note) and the few after the checkpoint
      const sqlite = new Sqlite(join(dir, 'a.db'), { readonly: true })
      const own = (sqlite.prepare("SELECT count(*) AS n FROM tp_files WHERE k LIKE 'own/%' OR k LIKE 'base/%'").get() as { n: number }).n
      sqlite.close()
      expect(own).toBeLessThan(201 - folded + 10)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('tabs sharing one replica', () => {
  it('take turns at file-sync rounds through Web Locks, and a closing tab stops waiting', async () => {
    // Node 20 has no navigator: a first-come, first-served lock manager stands in for the browser's
    let tail: Promise<unknown> = Promise.resolve()
    const names: string[] = []
    const locks = {
      request: (name: string, options: { signal?: AbortSignal }, fn: () => Promise<unknown>) => {
        names.push(name)
        return new Promise((resolve, reject) => {
          // as in the browser, a request still waiting is given up at once when its signal aborts
          options.signal?.addEventListener('abort', () => reject(options.signal!.reason))
          const run = tail.then(() => (options.signal?.aborted ? undefined : fn().then(resolve, reject)))
          tail = run.catch(() => undefined)
        })
      },
    }
    Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true })
    try {
      const log: string[] = []
      const inner = memoryFileStore()
      const store: FileStore = { url: inner.url, list: p => inner.list(p), read: p => inner.read(p), delete: p => inner.delete(p), write: (p, d) => (log.push('write'), inner.write(p, d)) }
      const storage = () => indexedDbStorage('tabs-files', { indexedDB: factory, IDBKeyRange })
      const factory = new IDBFactory()
      const db = await open([store], storage())
      await db.run(tx => void tx.create(Note, { id: 'n', text: 'x' }))
      let release!: () => void
      const held = locks.request('tidepool:tabs-files:files', {}, () => new Promise<void>(r => (release = r)))
      const synced = db.files.sync()
      for (let i = 0; i < 20; i++) await new Promise(r => setTimeout(r, 0))
      log.push('released')
      release()
      await held
      await synced
      expect(log[0]).toBe('released')
      expect(log.length).toBeGreaterThan(1)
      expect(names.every(n => n === 'tidepool:tabs-files:files')).toBe(true)

      // a tab that closes while another's round hangs is not held by it
      const hung = locks.request('tidepool:tabs-files:files', {}, () => new Promise<void>(() => undefined))
      void hung
      const waiting = db.files.sync()
      await db.close()
      await expect(waiting).rejects.toThrow()
    } finally {
      Reflect.deleteProperty(globalThis, 'navigator')
    }
  })
})
