import { describe, expect, it } from 'vitest'
import { Model, S, openDatabase, type Database } from '../../src/index.js'
import { memoryFileStore, type FileStore } from '../../src/files/store.js'

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

  it('a replica syncs with a server or through files, not both', async () => {
    await expect(openDatabase({ name: 'x', models: [Note], sync: { url: 'http://127.0.0.1:1' }, files: [memoryFileStore()] })).rejects.toThrow(/either with a server .* or through files/)
  })
})
