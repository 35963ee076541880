import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as netServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Model, OfflineError, S, openDatabase, type Database } from '../../src/index.js'
import { sqliteStorage } from '../../src/sqlite.js'
import { serveCli } from '../helpers/cli-server.js'
import { until } from '../helpers/until.js'
import { postgresAvailable, storeFactories } from '../server/stores.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, likes: S.int.default(0), version: S.int.default(0) }
  static override INDEXES = [['likes']]
}

async function freePort(): Promise<number> {
  return new Promise(resolve => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

const notes = async (db: Database) => Object.fromEntries((await db.query(Note).fetch()).map(n => [n.id, { text: n.text, likes: n.likes, version: n.version }]))

for (const factory of storeFactories) {
  describe(`sync with the server on ${factory.name}`, () => {
    let available = true
    let made: ReturnType<(typeof factory)['make']>
    let server: ChildProcess | undefined
    let port: number
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-sync-'))
    const dbs: Database[] = []
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
      made = factory.make()
      port = await freePort()
    })
    afterAll(async () => {
      for (const db of dbs) await db.close()
      server?.kill('SIGTERM')
      if (available) await made.cleanup()
      rmSync(dir, { recursive: true, force: true })
    })
    /** `quiet`: no pokes, no polling: it pulls only after its own commits and when asked, so a test decides what it has seen. */
    const client = async (name: string, quiet = false) => {
      const db = await openDatabase({
        name,
        models: [Note],
        storage: sqliteStorage(join(dir, `${name}.db`)),
        sync: quiet ? { url: `http://127.0.0.1:${port}`, socket: false, pollInterval: 3_600_000 } : { url: `http://127.0.0.1:${port}`, pollInterval: 200 },
      })
      dbs.push(db)
      return db
    }

    it('queues offline writes, converges when the server appears, rejects a stale write and sums increments', async c => {
      if (!available) return c.skip()
      const a = await client('a')
      const b = await client('b', true)
      // offline: the server is not running yet
      await a.run(tx => void tx.create(Note, { id: 'n1', text: 'from a' }))
      await b.run(tx => void tx.create(Note, { id: 'n2', text: 'from b' }))
      await until('a offline with its write pending', () => a.sync!.status.phase === 'offline' && a.sync!.status.pending === 1)
      expect(a.sync!.status.lastError).toMatch(/cannot reach/)
      await expect(a.run({ confirm: 'server' }, tx => void tx.create(Note, { id: 'never', text: 'x' }))).rejects.toThrow(OfflineError)
      expect(await a.run(tx => tx.get(Note, 'never'))).toBeUndefined()

      server = (await serveCli(made.url, port)).child
      await until('both in sync', async () => {
        await b.sync!.syncNow()
        return (await notes(a)).n2 !== undefined && (await notes(b)).n1 !== undefined
      })
      expect(await notes(a)).toEqual(await notes(b))
      await until('a drained', () => a.sync!.status.pending === 0 && a.sync!.status.phase === 'in-sync')

      // a stale read-modify-write: both are at version 0; a's commit reaches the server first (b, quiet, has not
      // pulled it), so b's commit of version 1 is rejected and rolled back
      const rejected: string[] = []
      b.on('rejected', r => rejected.push(r.reason))
      await a.sync!.syncNow()
      await b.sync!.syncNow()
      const bump = (db: Database, text: string) =>
        db.run(async tx => {
          const n = await tx.get(Note, 'n1')
          n!.version = n!.version + 1
          n!.text = text
        })
      await bump(a, 'a wins')
      await a.sync!.syncNow()
      await bump(b, 'b loses')
      expect((await notes(b)).n1!.text).toBe('b loses') // optimistic, until the server says otherwise
      await b.sync!.syncNow()
      await until('b rolled back', async () => (await notes(b)).n1!.text === 'a wins')
      expect(rejected).toEqual(['condition-failed'])
      const [r] = await b.rejections()
      expect(r).toMatchObject({ reason: 'condition-failed', collections: ['Note'] })
      await r!.ack()
      expect(await b.rejections()).toEqual([])

      // increments from both clients add up
      await Promise.all([a, b].map(db => db.run(async tx => (await tx.get(Note, 'n2'))!.getField('likes').incrementBy(3))))
      await until('likes summed', async () => {
        await a.sync!.syncNow()
        await b.sync!.syncNow()
        return (await notes(a)).n2!.likes === 6 && (await notes(b)).n2!.likes === 6
      })

      // confirm: 'server' waits for the verdict
      await a.run({ confirm: 'server' }, tx => void tx.create(Note, { id: 'confirmed', text: 'sure' }))
      expect(await a.pendingMutations()).toEqual([])
    }, 60_000)
  })
}
