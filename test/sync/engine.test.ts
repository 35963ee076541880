import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Model, OfflineError, RejectedError, S, TransactionFailedError, openDatabase, type Database, type Snapshot } from '../../src/index.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { sqliteStorage } from '../../src/sqlite.js'
import { until } from '../helpers/until.js'
import { postgresAvailable, storeFactories, type StoreFactory } from '../server/stores.js'

class Counter extends Model {
  static override COLLECTION = 'Counter'
  static override FIELDS = { n: S.int.default(0), note: S.str.optional() }
}

for (const factory of storeFactories) {
  describe(`the sync engine against a server on ${factory.name}`, () => {
    let dir: string
    let server: TidepoolServer
    let made: ReturnType<StoreFactory['make']>
    let available = true
    const open: Database[] = []
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
    })
    beforeEach(async c => {
      if (!available) return c.skip()
      dir = mkdtempSync(join(tmpdir(), 'tidepool-engine-'))
      made = factory.make()
      server = await createServer({ storage: made.store, port: 0, models: [Counter] })
    })
    afterEach(async () => {
      if (!available) return
      for (const db of open.splice(0)) await db.close()
      await server.close()
      await made.cleanup()
      rmSync(dir, { recursive: true, force: true })
    })
    /**
     * `quiet`: syncs only after its own commits and when asked (no pokes, no polling), so a test can make it stale;
     * `poked`: also on pokes, never by polling.
     */
    const client = async (file: string, mode: boolean | 'poked' = false) => {
      const sync =
        mode === 'poked'
          ? { url: server.url, pollInterval: 3_600_000 }
          : mode
            ? { url: server.url, socket: false, pollInterval: 3_600_000 }
            : { url: server.url, pollInterval: 100 }
      const db = await openDatabase({ name: file, models: [Counter], storage: sqliteStorage(join(dir, file)), sync })
      open.push(db)
      return db
    }
    const value = async (db: Database, id = 'c') => (await db.run(tx => tx.get(Counter, id)))?.n

    it('a replica restored from a backup takes a new client id and loses nothing', async () => {
      const a = await client('a.db')
      await a.run(tx => void tx.create(Counter, { id: 'c' }))
      await a.sync!.syncNow()
      await a.close()
      copyFileSync(join(dir, 'a.db'), join(dir, 'copy.db'))
      const original = await client('a.db')
      const copy = await client('copy.db')
      const clientId = copy.clientId
      await original.run(async tx => (await tx.get(Counter, 'c'))!.getField('n').incrementBy(1))
      await original.sync!.syncNow()
      await copy.run(async tx => (await tx.get(Counter, 'c'))!.getField('n').incrementBy(10))
      await copy.sync!.syncNow()
      await until('both increments applied', async () => {
        await original.sync!.syncNow()
        await copy.sync!.syncNow()
        return (await value(original)) === 11 && (await value(copy)) === 11
      })
      expect(copy.clientId).not.toBe(clientId)
      expect(await copy.pendingMutations()).toEqual([])
    })

    it('keeps rejections until acknowledged, across a restart; confirm: server re-runs a rejected transaction', async () => {
      const a = await client('a.db', true)
      const b = await client('b.db', true)
      await a.run(tx => void tx.create(Counter, { id: 'c' }))
      await a.sync!.syncNow()
      await until('b has c', async () => (await b.sync!.syncNow(), (await value(b)) === 0))
      b.sync!.subscribe(() => undefined)
      // b's stale write, committed while a's newer one is already on the server
      await a.run(async tx => void ((await tx.get(Counter, 'c'))!.note = 'a'))
      await a.sync!.syncNow()
      await b.run(async tx => {
        const c = await tx.get(Counter, 'c')
        c!.note = `${c!.note ?? ''}b`
      })
      await b.sync!.syncNow()
      await until('b rolled back', async () => (await b.run(tx => tx.get(Counter, 'c')))?.note === 'a')
      expect((await b.rejections()).map(r => r.reason)).toEqual(['condition-failed'])
      await b.close()
      open.splice(open.indexOf(b), 1)
      const b2 = await client('b.db', true)
      const [r] = await b2.rejections()
      expect(r?.message).toMatch(/note changed/)
      await r!.ack()
      expect(await b2.rejections()).toEqual([])

      // with confirm: 'server', the same race re-runs the transaction on the server's data
      await a.run(async tx => void ((await tx.get(Counter, 'c'))!.note = 'a2'))
      let runs = 0
      await b2.run({ confirm: 'server', retries: 3, initialBackoff: 5, maxBackoff: 20 }, async tx => {
        runs++
        const c = await tx.get(Counter, 'c')
        if (runs === 1) await a.sync!.syncNow() // a's write reaches the server first
        c!.note = `${c!.note}+b`
      })
      expect(runs).toBeGreaterThanOrEqual(2)
      await a.sync!.syncNow()
      expect((await a.run(tx => tx.get(Counter, 'c')))?.note).toBe('a2+b')

      // out of retries, the server's verdict is the error: a RejectedError with its reason
      const failed = await b2
        .run({ confirm: 'server', retries: 0 }, async tx => {
          const c = await tx.get(Counter, 'c')
          // another client changes what this transaction read, after it read it
          await a.run(async tx2 => void ((await tx2.get(Counter, 'c'))!.note = 'a3'))
          await a.sync!.syncNow()
          c!.note = `${c!.note}+b`
        })
        .catch((e: unknown) => e)
      expect(failed).toBeInstanceOf(TransactionFailedError)
      const original = (failed as TransactionFailedError).original
      expect(original).toBeInstanceOf(RejectedError)
      expect((original as RejectedError).reason).toBe('condition-failed')
    })

    it('confirm: server throws OfflineError with committed: true when the connection drops while waiting, keeping the write queued', async () => {
      const a = await client('a.db', true)
      await a.run(tx => void tx.create(Counter, { id: 'c' }))
      await a.sync!.syncNow()
      expect(a.sync!.status.phase).toBe('in-sync')
      await server.close()
      const err = await a.run({ confirm: 'server' }, async tx => void ((await tx.get(Counter, 'c'))!.note = 'queued')).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OfflineError)
      expect((err as OfflineError).committed).toBe(true)
      expect((await a.pendingMutations()).map(m => m.ops[0]!.type)).toEqual(['set'])
      expect((await a.run(tx => tx.get(Counter, 'c')))?.note).toBe('queued')
      server = await createServer({ storage: made.again(), port: 0, models: [Counter] })
    })

    it('answers upgrade-required below the server window and keeps the outbox', async () => {
      await server.close()
      server = await createServer({ storage: made.again(), port: 0, models: [Counter], minSchemaVersion: 2 })
      const old = await client('old.db')
      await old.run(tx => void tx.create(Counter, { id: 'x' }))
      await until('upgrade-required', () => old.sync!.status.phase === 'error')
      expect(old.sync!.status.lastError).toMatch(/schema version 1 is no longer accepted/)
      expect(await old.pendingMutations()).toHaveLength(1)
    })

    it('applies small changes carried by a poke without pulling', async () => {
      const a = await client('a.db', true)
      const b = await client('b.db', 'poked')
      await until('b connected and in sync', () => b.sync!.status.phase === 'in-sync')
      await new Promise(r => setTimeout(r, 150))
      const pulls = async () => Number(/tidepool_pulls_total (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())![1])
      const before = await pulls()
      const seen: Array<string | undefined> = []
      b.watch(Counter, 'p', d => seen.push(d?.note))
      await a.run(tx => void tx.create(Counter, { id: 'p', note: 'poked' }))
      await until('b sees the change', () => seen.includes('poked'))
      // a's round (push, then the pull for its acknowledgement) may still be under way when b has applied the poke
      await until('a has its acknowledgement', async () => (await a.pendingMutations()).length === 0 && a.sync!.status.phase === 'in-sync')
      expect((await pulls()) - before).toBe(1) // a's own pull, for its acknowledgement; b pulled nothing
    })

    it('reports fromCache and hasPendingWrites from the sync state', async () => {
      const a = await client('a.db')
      const snaps: Array<Snapshot<typeof Counter>['metadata']> = []
      a.query(Counter).subscribe(s => snaps.push(s.metadata), { includeMetadataChanges: true })
      await a.run(tx => void tx.create(Counter, { id: 'm' }))
      await until('confirmed and in sync', () => snaps.some(m => !m.fromCache && !m.hasPendingWrites))
      expect(snaps).toContainEqual({ fromCache: true, hasPendingWrites: true })
    })
  })
}
