import fc from 'fast-check'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Model, S, memoryStorage, openDatabase, type Database } from '../../src/index.js'
import { pull } from '../../src/server/pull.js'
import { push } from '../../src/server/push.js'
import { sqliteServerStore } from '../../src/server/sqlite-store.js'
import type { ServerStore } from '../../src/server/store.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { HttpError, OfflineError } from '../../src/index.js'
import type { Transport } from '../../src/sync/transport.js'

class Item extends Model {
  static override COLLECTION = 'Item'
  static override FIELDS = { n: S.int.default(0), label: S.str.default(''), tags: S.arr(S.str).default([]) }
}

/**
 * An in-process transport over a flaky network: a request may be lost before
 * the server sees it, or its answer lost after the server acted on it.
 */
function flaky(store: ServerStore, decide: () => 'ok' | 'drop-request' | 'drop-response', online: () => boolean): Transport {
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (!online()) throw new HttpError(0, 'offline', 'offline')
    const fate = decide()
    if (fate === 'drop-request') throw new HttpError(0, 'offline', 'request lost')
    const result = await fn()
    if (fate === 'drop-response') throw new HttpError(0, 'offline', 'response lost')
    return result
  }
  return {
    push: req => call(() => push(store, req, { userId: 'u', admin: false, minSchemaVersion: 1 })),
    pull: req => call(() => pull(store, req, { userId: 'u', everything: false })),
    socketUrl: async () => 'ws://unused',
  }
}

type Action =
  | { kind: 'set'; client: number; doc: number; label: string }
  | { kind: 'rmw'; client: number; doc: number }
  | { kind: 'inc'; client: number; doc: number; by: number }
  | { kind: 'tag'; client: number; doc: number; tag: string }
  | { kind: 'delete'; client: number; doc: number }
  | { kind: 'create'; client: number; doc: number }
  | { kind: 'sync'; client: number }
  | { kind: 'toggle'; client: number }

const CLIENTS = 3
const DOCS = 4
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), client: fc.nat(CLIENTS - 1), doc: fc.nat(DOCS - 1), label: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ kind: fc.constant('rmw' as const), client: fc.nat(CLIENTS - 1), doc: fc.nat(DOCS - 1) }),
  fc.record({ kind: fc.constant('inc' as const), client: fc.nat(CLIENTS - 1), doc: fc.nat(DOCS - 1), by: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant('tag' as const), client: fc.nat(CLIENTS - 1), doc: fc.nat(DOCS - 1), tag: fc.constantFrom('x', 'y') }),
  fc.record({ kind: fc.constant('delete' as const), client: fc.nat(CLIENTS - 1), doc: fc.nat(DOCS - 1) }),
  fc.record({ kind: fc.constant('create' as const), client: fc.nat(CLIENTS - 1), doc: fc.nat(DOCS - 1) }),
  fc.record({ kind: fc.constant('sync' as const), client: fc.nat(CLIENTS - 1) }),
  fc.record({ kind: fc.constant('toggle' as const), client: fc.nat(CLIENTS - 1) }),
)

async function snapshot(db: Database): Promise<Record<string, unknown>> {
  return Object.fromEntries((await db.query(Item).fetch()).map(d => [d.id, d.toJSON()]))
}

describe('convergence (property)', () => {
  it('random writes on several clients, random disconnects and lost requests or answers: every replica ends equal to the server', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), fc.infiniteStream(fc.constantFrom<'ok' | 'drop-request' | 'drop-response'>('ok', 'ok', 'drop-request', 'drop-response')), async (actions, fates) => {
        const dir = mkdtempSync(join(tmpdir(), 'tidepool-conv-'))
        const store = sqliteServerStore(join(dir, 'server.db'))
        await store.open()
        const fateIterator = fates[Symbol.iterator]()
        const online = Array.from({ length: CLIENTS }, () => true)
        let flakyNetwork = true
        const dbs: Database[] = []
        try {
          for (let i = 0; i < CLIENTS; i++) {
            const transport = flaky(store, () => (flakyNetwork ? fateIterator.next().value! : 'ok'), () => online[i]!)
            dbs.push(await openDatabase({ name: `c${i}`, models: [Item], storage: memoryStorage(), sync: { url: 'http://in-process', transport, socket: false, pollInterval: 3_600_000 } }))
          }
          // the status never claims in-sync with writes still pending
          const claims: string[] = []
          for (const db of dbs) db.sync!.subscribe(s => void (s.phase === 'in-sync' && s.pending > 0 && claims.push(`in-sync with ${s.pending} pending`)))
          const quiet = { retries: 0 }
          for (const a of actions) {
            const db = dbs[a.client]!
            const id = `d${'doc' in a ? a.doc : 0}`
            const attempt = (fn: () => Promise<unknown>) => fn().catch(() => undefined) // a local conflict or a missing document is fine
            switch (a.kind) {
              case 'create':
                await attempt(() => db.run(quiet, tx => void tx.create(Item, { id })))
                break
              case 'set':
                await attempt(() => db.run(quiet, tx => tx.updateWithoutRead(Item, { id, label: a.label })))
                break
              case 'rmw':
                await attempt(() =>
                  db.run(quiet, async tx => {
                    const it = await tx.get(Item, id)
                    if (it) it.label = `${it.label}+`
                  }),
                )
                break
              case 'inc':
                await attempt(() =>
                  db.run(quiet, async tx => {
                    const it = await tx.get(Item, id, { track: false })
                    it?.getField('n').incrementBy(a.by)
                  }),
                )
                break
              case 'tag':
                await attempt(() =>
                  db.run(quiet, async tx => {
                    const it = await tx.get(Item, id)
                    if (it && !it.tags.includes(a.tag)) it.tags = [...it.tags, a.tag]
                  }),
                )
                break
              case 'delete':
                await attempt(() => db.run(quiet, tx => tx.delete(Item.key(id))))
                break
              case 'sync':
                // a round cut off by the network says so; any other failure is one
                await db.sync!.syncNow().catch((e: unknown) => expect(e).toBeInstanceOf(OfflineError))
                break
              case 'toggle':
                online[a.client] = !online[a.client]
                break
            }
          }
          // the network heals: everyone syncs until nothing is pending, then once more to see the others' last writes
          flakyNetwork = false
          online.fill(true)
          for (let round = 0; round < 3; round++) for (const db of dbs) await db.sync!.syncNow()
          const server = await pull(store, { type: 'pull', v: PROTOCOL_VERSION, clientId: 'observer', since: 0 }, { userId: 'u', everything: false })
          const expected = Object.fromEntries(server.changes.filter(c => 'doc' in c).map(c => [c.id, (c as { doc: object }).doc]))
          for (const db of dbs) {
            expect(await db.pendingMutations()).toEqual([])
            expect(await snapshot(db)).toEqual(expected)
            expect(db.sync!.status.phase).toBe('in-sync')
          }
          expect(claims).toEqual([])
          // nothing was applied twice: each client's results are unique per seq
        } finally {
          for (const db of dbs) await db.close()
          await store.close()
          rmSync(dir, { recursive: true, force: true })
        }
      }),
      { numRuns: 60 },
    )
  }, 120_000)
})
