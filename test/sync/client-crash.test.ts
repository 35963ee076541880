import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runUntilKilled } from '../helpers/killed-writer.js'
import { openDatabase } from '../../src/index.js'
import { createServer } from '../../src/server.js'
import { sqliteStorage } from '../../src/sqlite.js'
import { Entry, Tally } from './crash-models.js'
import { postgresAvailable, storeFactories } from '../server/stores.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-client-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))


for (const factory of storeFactories) {
  describe(`a client killed mid-sync (${factory.name})`, () => {
    let available = true
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
    })

    it('reopens and delivers every committed transaction to the server exactly once', async c => {
      if (!available) return c.skip()
      const made = factory.make()
      const server = await createServer({ storage: made.store, port: 0, models: [Entry, Tally] })
      const file = join(dir, `client-${factory.name}.db`)
      try {
        let next = 0
        let committed: number[] = []
        for (let round = 0; round < 3; round++) {
          const acked = await runUntilKilled(join(import.meta.dirname, 'client-writer.ts'), [file, server.url, String(next)], 150 + Math.floor(Math.random() * 300))
          committed = committed.concat(acked)
          next = Math.max(...committed) + 1
          // the killed process may have committed one more transaction than it reported
          const probe = await openDatabase({ name: 'crashy', models: [Entry, Tally], storage: sqliteStorage(file) })
          const last = (await probe.query(Entry).orderBy('n', 'desc').limit(1).fetch())[0]?.n ?? -1
          await probe.close()
          next = Math.max(next, last + 1)
        }
        const db = await openDatabase({ name: 'crashy', models: [Entry, Tally], storage: sqliteStorage(file), sync: { url: server.url } })
        try {
          for (let i = 0; i < 20 && ((await db.pendingMutations()).length > 0 || db.sync!.status.phase !== 'in-sync'); i++) await db.sync!.syncNow()
          expect(await db.pendingMutations()).toEqual([])
          const local = await db.query(Entry).count()
          for (const n of committed) expect(await db.run(tx => tx.get(Entry, { n }))).toBeDefined()
          // the server holds exactly what the replica committed: every entry, and the tally counted once each
          const observer = await openDatabase({ name: 'observer', models: [Entry, Tally], sync: { url: server.url, socket: false } })
          await observer.sync!.syncNow()
          expect(await observer.query(Entry).count()).toBe(local)
          expect((await observer.run(tx => tx.get(Tally, 'tally')))?.count).toBe(local)
          await observer.close()
        } finally {
          await db.close()
        }
      } finally {
        await server.close()
        await made.cleanup()
      }
    }, 90_000)
  })
}
