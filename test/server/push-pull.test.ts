import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Mutation, Op } from '../../src/core/mutation.js'
import { PermissionDeniedError } from '../../src/index.js'
import { pull } from '../../src/server/pull.js'
import { push, type PushContext } from '../../src/server/push.js'
import type { ServerStore } from '../../src/server/store.js'
import { PROTOCOL_VERSION, type PullRequest, type PushRequest } from '../../src/protocol/messages.js'
import { postgresAvailable, storeFactories, type StoreFactory } from './stores.js'

const ctx: PushContext = { userId: 'ann', minSchemaVersion: 1 }
let seqs = new Map<string, number>()
function mutation(clientId: string, ops: Op[], preconditions: Mutation['preconditions'] = [], seq?: number): PushRequest['mutations'][number] {
  const next = seq ?? (seqs.get(clientId) ?? 0) + 1
  seqs.set(clientId, Math.max(next, seqs.get(clientId) ?? 0))
  return { seq: next, id: `${clientId}-${next}-${Math.random()}`, ops, preconditions, schemaVersion: 1 }
}
const req = (clientId: string, mutations: PushRequest['mutations']): PushRequest => ({ type: 'push', v: PROTOCOL_VERSION, clientId, mutations })
const pullReq = (clientId: string, since: number): PullRequest => ({ type: 'pull', v: PROTOCOL_VERSION, clientId, since })
const create = (id: string, data: object): Op => ({ type: 'create', collection: 'Todo', id, data: { id, ...data } })

for (const factory of storeFactories) {
  describe(`server push and pull on ${factory.name}`, () => {
    let available = true
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
    })
    let made: ReturnType<StoreFactory['make']>
    let store: ServerStore
    beforeEach(async ctx2 => {
      if (!available) return ctx2.skip()
      seqs = new Map()
      made = factory.make()
      store = made.store
      await store.open()
    })
    afterEach(async () => {
      if (!available) return
      await store.close()
      await made.cleanup()
    })

    it('applies mutations in order, exactly once, and acknowledges a repeated (seq, id) without applying it', async () => {
      const m1 = mutation('c1', [create('a', { n: 1 })])
      const m2 = mutation('c1', [{ type: 'increment', collection: 'Todo', id: 'a', path: ['n'], by: 5 }])
      const r = await push(store, req('c1', [m1, m2]), ctx)
      expect(r.results.map(x => [x.seq, x.status])).toEqual([
        [1, 'applied'],
        [2, 'applied'],
      ])
      const again = await push(store, req('c1', [m1, m2]), ctx)
      expect(again.results).toEqual(r.results)
      const p = await pull(store, pullReq('other', 0))
      expect(p.changes).toEqual([{ collection: 'Todo', id: 'a', revision: r.results[1]!.revision, doc: { id: 'a', n: 6 } }])
    })

    it('tells a diverged client so: a known seq with another id, or a gap', async () => {
      await push(store, req('c1', [mutation('c1', [create('a', {})])]), ctx)
      const copy = await push(store, req('c1', [{ ...mutation('c1', [create('b', {})], [], 1) }]), ctx)
      expect(copy.stopped?.reason).toBe('client-diverged')
      const gap = await push(store, req('c1', [mutation('c1', [create('c', {})], [], 5)]), ctx)
      expect(gap.stopped?.reason).toBe('client-diverged')
      expect(gap.results).toEqual([])
    })

    it('rejects with a reason, applies nothing of the mutation, and moves on to the next', async () => {
      const r = await push(
        store,
        req('c1', [
          mutation('c1', [create('a', { n: 1 })]),
          mutation('c1', [{ type: 'set', collection: 'Todo', id: 'a', path: ['n'], value: 9 }, create('b', {})], [{ type: 'equals', collection: 'Todo', id: 'a', path: ['n'], value: 2 }]),
          mutation('c1', [create('a', {})]),
          mutation('c1', [{ type: 'set', collection: 'Todo', id: 'zz', path: ['n'], value: 1 }]),
          mutation('c1', [{ type: 'set', collection: 'Todo', id: 'a', path: ['n'], value: 3 }]),
        ]),
        ctx,
      )
      expect(r.results.map(x => (x.status === 'rejected' ? x.reason : x.status))).toEqual(['applied', 'condition-failed', 'already-exists', 'not-found', 'applied'])
      const p = await pull(store, pullReq('other', 0))
      expect(p.changes.map(c => ('doc' in c ? c.doc : c))).toEqual([{ id: 'a', n: 3 }])
    })

    it('validates with the models when it has them, and answers upgrade-required below its schema window, keeping the mutation', async () => {
      const strict: PushContext = { ...ctx, minSchemaVersion: 2, validate: (_c, _b, after) => (typeof after.n === 'number' || after.n === undefined ? undefined : 'n must be a number') }
      const old = await push(store, req('c1', [mutation('c1', [create('a', {})])]), strict)
      expect(old.stopped).toMatchObject({ reason: 'upgrade-required', minSchemaVersion: 2 })
      const retry = await push(store, req('c1', [{ ...mutation('c1', [create('a', { n: 'x' })], [], 1), schemaVersion: 2 }]), strict)
      expect(retry.results[0]).toMatchObject({ seq: 1, status: 'rejected', reason: 'invalid' })
    })

    it('binds a client id to its first user', async () => {
      await push(store, req('c1', [mutation('c1', [create('a', {})])]), ctx)
      await expect(push(store, req('c1', [mutation('c1', [create('b', {})])]), { ...ctx, userId: 'eve' })).rejects.toThrow(PermissionDeniedError)
    })

    it('does not send a client its own acknowledged writes back, but sends others', async () => {
      const ops = Array.from({ length: 100 }, (_, i) => create(`d${i}`, { n: i, title: 'x'.repeat(50) }))
      await push(store, req('A', [mutation('A', ops)]), ctx)
      const a = await pull(store, pullReq('A', 0))
      expect(a.results).toHaveLength(1)
      expect(a.changes).toEqual([])
      expect(JSON.stringify(a).length).toBeLessThan(300)
      const b = await pull(store, pullReq('B', 0))
      expect(b.changes).toHaveLength(100)
      // B sets a field and A increments another: A gets B's field and the incremented value, nothing else
      await push(store, req('B', [mutation('B', [{ type: 'set', collection: 'Todo', id: 'd1', path: ['title'], value: 'from B' }])]), ctx)
      await push(store, req('A', [mutation('A', [{ type: 'increment', collection: 'Todo', id: 'd2', path: ['n'], by: 10 }])]), ctx)
      const a2 = await pull(store, pullReq('A', a.revision))
      expect(a2.changes.map(c => ('set' in c ? [c.id, c.set] : c))).toEqual([
        ['d1', { title: 'from B' }],
        ['d2', { n: 12 }],
      ])
      // A deletes d3: B hears of it, A does not
      await push(store, req('A', [mutation('A', [{ type: 'delete', collection: 'Todo', id: 'd3' }])]), ctx)
      expect((await pull(store, pullReq('A', a2.revision))).changes).toEqual([])
      expect((await pull(store, pullReq('B', a2.revision))).changes).toMatchObject([{ id: 'd3', deleted: true }])
    })

    it('pages a pull at commit boundaries, and sends a commit larger than a page whole', async () => {
      const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => create(`${prefix}${i}`, {}))
      await push(store, req('c1', [mutation('c1', batch('a', 4)), mutation('c1', batch('b', 4)), mutation('c1', batch('big', 12)), mutation('c1', batch('c', 2))]), ctx)
      const pages: string[][] = []
      let since = 0
      for (;;) {
        const p = await pull(store, pullReq('reader', since), 5)
        pages.push(p.changes.map(c => c.id.replace(/\d+$/, '')))
        since = p.revision
        if (!p.more) break
      }
      expect(pages.map(p => [...new Set(p)].join('+') + ':' + p.length)).toEqual(['a:4', 'b:4', 'big:12', 'c:2'])
    })

    it('keeps keys holding NUL exactly', async () => {
      await push(store, req('c1', [mutation('c1', [create('7\0Bo', { x: 'a\u0000b' })])]), ctx)
      const p = await pull(store, pullReq('other', 0))
      expect(p.changes).toMatchObject([{ id: '7\0Bo', doc: { id: '7\0Bo', x: 'a\u0000b' } }])
    })

    it('never lets a pull skip a change, with many concurrent pushers and a delayed commit', async () => {
      const N = 8
      const pulls: Array<{ since: number; revision: number; revisions: number[] }> = []
      let since = 0
      let stop = false
      const seen = new Map<string, number>()
      const puller = (async () => {
        while (!stop) {
          const p = await pull(store, pullReq('watcher', since))
          for (const c of p.changes) expect(c.revision).toBeLessThanOrEqual(p.revision)
          for (const c of p.changes) seen.set(c.id, c.revision)
          pulls.push({ since, revision: p.revision, revisions: p.changes.map(c => c.revision) })
          since = p.revision
          await new Promise(r => setTimeout(r, 5))
        }
      })()
      // a transaction that takes its revision, then waits before committing
      const delayed = store.transaction(async tx => {
        const revision = await tx.nextRevision()
        await new Promise(r => setTimeout(r, 150))
        await tx.putDocs([{ collection: 'Todo', id: 'slow', data: { id: 'slow' }, revision, fields: { '': { rev: revision, client: 'slow', kind: 'overwrite' } } }])
      })
      await Promise.all([
        delayed,
        ...Array.from({ length: N }, (_, c) =>
          (async () => {
            for (let i = 0; i < 5; i++) await push(store, req(`p${c}`, [mutation(`p${c}`, [create(`p${c}-${i}`, {})])]), ctx)
          })(),
        ),
      ])
      await new Promise(r => setTimeout(r, 50))
      stop = true
      await puller
      const final = await pull(store, pullReq('watcher', since))
      for (const c of final.changes) seen.set(c.id, c.revision)
      expect(seen.size).toBe(N * 5 + 1)
      expect(seen.has('slow')).toBe(true)
    })
  })
}
