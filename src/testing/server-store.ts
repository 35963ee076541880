import assert from 'node:assert/strict'
import { PermissionDeniedError } from '../core/errors.js'
import type { Mutation, Op } from '../core/mutation.js'
import { PROTOCOL_VERSION, type PullRequest, type PushRequest } from '../protocol/messages.js'
import { pull } from '../server/pull.js'
import { push, type PushContext } from '../server/push.js'
import type { ServerStore, Viewer } from '../server/store.js'
import type { TestApi } from './api.js'

/** How the suite gets a fresh, empty store: `again()` is a new store object over the same data (a restart). */
export interface ServerStoreFactory {
  name: string
  /** Called before each test: a store over an empty database (the suite opens it). */
  make(): {
    store: ServerStore
    /** A new store object over the same data as `store`. */
    again(): ServerStore
    /** Called after each test, once its store is closed: remove the data. */
    cleanup(): Promise<void> | void
  }
}

type PushMutation = PushRequest['mutations'][number]

const ctx: PushContext = { userId: 'ann', admin: false, minSchemaVersion: 1 }
/** The pulls below are ann's: she reads her own realm, where her documents go. */
const ann: Viewer = { userId: 'ann', everything: false }
const req = (clientId: string, mutations: PushRequest['mutations']): PushRequest => ({ type: 'push', v: PROTOCOL_VERSION, clientId, mutations })
const pullReq = (clientId: string, since: number): PullRequest => ({ type: 'pull', v: PROTOCOL_VERSION, clientId, since })
// as a client that knows its user writes them: in that user's private realm
const create = (id: string, data: object): Op => ({ type: 'create', collection: 'Todo', id, data: { id, realmId: 'ann', ...data } })
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/**
 * `actual` has `expected`'s properties (recursively; arrays element by
 * element and of the same length), whatever else it has: what a partial
 * match means in most runners, with `deepStrictEqual`'s diff on failure.
 */
function assertMatches(actual: unknown, expected: unknown): void {
  const project = (a: unknown, e: unknown): unknown => {
    if (Array.isArray(e) && Array.isArray(a)) return a.map((x, i) => (i < e.length ? project(x, e[i]) : x))
    if (typeof e === 'object' && e !== null && !Array.isArray(e) && typeof a === 'object' && a !== null && !Array.isArray(a)) {
      return Object.fromEntries(Object.keys(e).map(k => [k, project((a as Record<string, unknown>)[k], (e as Record<string, unknown>)[k])]))
    }
    return a
  }
  assert.deepStrictEqual(project(actual, expected), expected)
}

/**
 * Registers the behaviours every server store must have, as the push and
 * pull logic relies on them: exactly-once in-order pushes, all-or-nothing
 * rejections, pulls paged at commit boundaries that never skip a change
 * however pushes interleave, keys kept exactly, and data kept across a restart.
 */
export function describeServerStore(factory: ServerStoreFactory, t: TestApi): void {
  t.describe(`server push and pull on ${factory.name}`, () => {
    let seqs = new Map<string, number>()
    const mutation = (clientId: string, ops: Op[], preconditions: Mutation['preconditions'] = [], seq?: number): PushMutation => {
      const next = seq ?? (seqs.get(clientId) ?? 0) + 1
      seqs.set(clientId, Math.max(next, seqs.get(clientId) ?? 0))
      return { seq: next, id: `${clientId}-${next}-${Math.random()}`, ops, preconditions, schemaVersion: 1 }
    }
    let made: ReturnType<ServerStoreFactory['make']>
    let store: ServerStore
    t.beforeEach(async () => {
      seqs = new Map()
      made = factory.make()
      store = made.store
      await store.open()
    })
    t.afterEach(async () => {
      await store.close()
      await made.cleanup()
    })

    t.it('applies mutations in order, exactly once, and acknowledges a repeated (seq, id) without applying it', async () => {
      const m1 = mutation('c1', [create('a', { n: 1 })])
      const m2 = mutation('c1', [{ type: 'increment', collection: 'Todo', id: 'a', path: ['n'], by: 5 }])
      const r = await push(store, req('c1', [m1, m2]), ctx)
      assert.deepStrictEqual(
        r.results.map(x => [x.seq, x.status]),
        [
          [1, 'applied'],
          [2, 'applied'],
        ],
      )
      const again = await push(store, req('c1', [m1, m2]), ctx)
      assert.deepStrictEqual(again.results, r.results)
      const p = await pull(store, pullReq('other', 0), ann)
      assert.deepStrictEqual(p.changes, [{ collection: 'Todo', id: 'a', revision: r.results[1]!.revision, doc: { id: 'a', realmId: 'ann', n: 6 } }])
    })

    t.it('tells a diverged client so: a known seq with another id, or a gap', async () => {
      await push(store, req('c1', [mutation('c1', [create('a', {})])]), ctx)
      const copy = await push(store, req('c1', [{ ...mutation('c1', [create('b', {})], [], 1) }]), ctx)
      assert.equal(copy.stopped?.reason, 'client-diverged')
      const gap = await push(store, req('c1', [mutation('c1', [create('c', {})], [], 5)]), ctx)
      assert.equal(gap.stopped?.reason, 'client-diverged')
      assert.deepStrictEqual(gap.results, [])
    })

    t.it('rejects with a reason, applies nothing of the mutation, and moves on to the next', async () => {
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
      assert.deepStrictEqual(
        r.results.map(x => (x.status === 'rejected' ? x.reason : x.status)),
        ['applied', 'condition-failed', 'already-exists', 'not-found', 'applied'],
      )
      const p = await pull(store, pullReq('other', 0), ann)
      assert.deepStrictEqual(
        p.changes.map(c => ('doc' in c ? c.doc : c)),
        [{ id: 'a', realmId: 'ann', n: 3 }],
      )
    })

    t.it('validates with the models when it has them, and answers upgrade-required below its schema window, keeping the mutation', async () => {
      const strict: PushContext = { ...ctx, minSchemaVersion: 2, validate: (_c, _b, after) => (typeof after.n === 'number' || after.n === undefined ? undefined : 'n must be a number') }
      const old = await push(store, req('c1', [mutation('c1', [create('a', {})])]), strict)
      assertMatches(old.stopped, { reason: 'upgrade-required', minSchemaVersion: 2 })
      const retry = await push(store, req('c1', [{ ...mutation('c1', [create('a', { n: 'x' })], [], 1), schemaVersion: 2 }]), strict)
      assertMatches(retry.results[0], { seq: 1, status: 'rejected', reason: 'invalid' })
    })

    t.it('binds a client id to its first user', async () => {
      await push(store, req('c1', [mutation('c1', [create('a', {})])]), ctx)
      await assert.rejects(push(store, req('c1', [mutation('c1', [create('b', {})])]), { ...ctx, userId: 'eve' }), PermissionDeniedError)
    })

    t.it('does not send a client its own acknowledged writes back, but sends others', async () => {
      const ops = Array.from({ length: 100 }, (_, i) => create(`d${i}`, { n: i, title: 'x'.repeat(50) }))
      await push(store, req('A', [mutation('A', ops)]), ctx)
      const a = await pull(store, pullReq('A', 0), ann)
      assert.equal(a.results.length, 1)
      assert.deepStrictEqual(a.changes, [])
      assert.ok(JSON.stringify(a).length < 300, `a pull of only acknowledged writes is small, got ${JSON.stringify(a).length} characters`)
      const b = await pull(store, pullReq('B', 0), ann)
      assert.equal(b.changes.length, 100)
      // B sets a field and A increments another: A gets B's field and the incremented value, nothing else
      await push(store, req('B', [mutation('B', [{ type: 'set', collection: 'Todo', id: 'd1', path: ['title'], value: 'from B' }])]), ctx)
      await push(store, req('A', [mutation('A', [{ type: 'increment', collection: 'Todo', id: 'd2', path: ['n'], by: 10 }])]), ctx)
      const a2 = await pull(store, pullReq('A', a.revision), ann)
      assert.deepStrictEqual(
        a2.changes.map(c => ('set' in c ? [c.id, c.set] : c)),
        [
          ['d1', { title: 'from B' }],
          ['d2', { n: 12 }],
        ],
      )
      // A deletes d3: B hears of it, A does not
      await push(store, req('A', [mutation('A', [{ type: 'delete', collection: 'Todo', id: 'd3' }])]), ctx)
      assert.deepStrictEqual((await pull(store, pullReq('A', a2.revision), ann)).changes, [])
      assertMatches((await pull(store, pullReq('B', a2.revision), ann)).changes, [{ id: 'd3', deleted: true }])
    })

    t.it('leaves out the realm it gave a create that named none: the client fills in its private realm itself', async () => {
      await push(store, req('A', [mutation('A', [{ type: 'create', collection: 'Todo', id: 'bare', data: { id: 'bare' } }])]), ctx)
      assert.deepStrictEqual((await pull(store, pullReq('A', 0), ann)).changes, [])
      assertMatches((await pull(store, pullReq('B', 0), ann)).changes, [{ id: 'bare', doc: { id: 'bare', realmId: 'ann' } }])
    })

    t.it("sends back every write of a client acknowledged after one of its rejections, on every page of the pull", async () => {
      await push(store, req('B', [mutation('B', [create('taken', {})])]), ctx)
      // A's create of a key that exists is refused; its later creates are applied, but A's copy of what followed a refusal is not trusted
      await push(store, req('A', [mutation('A', [create('taken', {})]), ...['z', 'w', 'v'].map(id => mutation('A', [create(id, {})]))]), ctx)
      const sent: string[] = []
      const rejected: string[] = []
      let since = 0
      for (;;) {
        const p = await pull(store, { ...pullReq('A', since), ...(since ? { base: 0 } : {}) }, ann, 2)
        sent.push(...p.changes.map(c => c.id))
        rejected.push(...p.results.filter(r => r.status === 'rejected').map(r => r.reason))
        since = p.revision
        if (!p.more) break
      }
      assert.deepStrictEqual(rejected, ['already-exists'])
      assert.deepStrictEqual(sent.sort(), ['taken', 'v', 'w', 'z'])
    })

    t.it('pages a pull at commit boundaries, and sends a commit larger than a page whole', async () => {
      const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => create(`${prefix}${i}`, {}))
      await push(store, req('c1', [mutation('c1', batch('a', 4)), mutation('c1', batch('b', 4)), mutation('c1', batch('big', 12)), mutation('c1', batch('c', 2))]), ctx)
      const pages: string[][] = []
      let since = 0
      for (;;) {
        const p = await pull(store, pullReq('reader', since), ann, 5)
        pages.push(p.changes.map(c => c.id.replace(/\d+$/, '')))
        since = p.revision
        if (!p.more) break
      }
      assert.deepStrictEqual(
        pages.map(p => [...new Set(p)].join('+') + ':' + p.length),
        ['a:4', 'b:4', 'big:12', 'c:2'],
      )
    })

    t.it('sends a user only the realms they read: a realm joined whole, a realm left and a document moved out named for eviction', async () => {
      const as = (userId: string): PushContext => ({ userId, admin: false, minSchemaVersion: 1 })
      const bob: Viewer = { userId: 'bob', everything: false }
      const member = (roles: string[]): Op => ({ type: 'put', collection: '_Member', id: 'team\0bob', data: { realmId: 'team', userId: 'bob', roles }, fields: ['realmId', 'userId', 'roles'] })
      await push(store, req('a1', [mutation('a1', [create('private', {})])]), ctx)
      await push(store, req('a1', [mutation('a1', [{ type: 'create', collection: '_Realm', id: 'team', data: { id: 'team', name: 'team' } }, { type: 'create', collection: 'Todo', id: 'early', data: { id: 'early', realmId: 'team' } }])]), ctx)
      const before = await pull(store, pullReq('b1', 0), bob)
      assert.deepStrictEqual(before.changes, [])
      // bob joins: the realm comes whole at his next pull, documents written before he joined included
      const joined = await push(store, req('a1', [mutation('a1', [member(['read'])])]), ctx)
      assertMatches(joined.results, [{ status: 'applied' }])
      const first = await pull(store, pullReq('b1', before.revision), bob)
      assert.deepStrictEqual(first.changes.map(c => c.id).sort(), ['early', 'team', 'team\0ann', 'team\0bob'])
      assert.equal(first.evict, undefined)
      // a reader's write is refused; a move out of the realm is named to its readers
      const refused = await push(store, req('b1', [mutation('b1', [{ type: 'set', collection: 'Todo', id: 'early', path: ['x'], value: 1 }])]), as('bob'))
      assertMatches(refused.results, [{ status: 'rejected', reason: 'permission-denied' }])
      await push(store, req('a1', [mutation('a1', [{ type: 'set', collection: 'Todo', id: 'early', path: ['realmId'], value: 'ann' }])]), ctx)
      const moved = await pull(store, pullReq('b1', first.revision), bob)
      assert.deepStrictEqual(moved.evict, { realms: [], docs: [{ collection: 'Todo', id: 'early' }] })
      assert.ok(!moved.changes.some(c => c.id === 'early'), 'a document moved away is not sent')
      // bob leaves: the realm is named
      await push(store, req('a1', [mutation('a1', [{ type: 'delete', collection: '_Member', id: 'team\0bob' }])]), ctx)
      const left = await pull(store, pullReq('b1', moved.revision), bob)
      assert.deepStrictEqual(left.evict, { realms: ['team'], docs: [] })
      assert.deepStrictEqual(left.changes, [])
      // and bob never sees ann's private document, nor may he write there
      assertMatches((await push(store, req('b1', [mutation('b1', [create('intrude', { realmId: 'ann' })])]), as('bob'))).results, [{ status: 'rejected', reason: 'permission-denied' }])
      assert.ok(!(await pull(store, pullReq('b2', 0), bob)).changes.some(c => c.id === 'private' || c.id === 'intrude'))
    })

    t.it('pages the changes of a user who reads 400 realms in revision order, none skipped or repeated', async () => {
      const realms = Array.from({ length: 400 }, (_, i) => `shelf${i}`)
      // ann makes the realms (she administers each), then writes in them, round after round: each realm's changes interleave with the others'
      await push(store, req('a1', realms.map(id => mutation('a1', [{ type: 'create', collection: '_Realm', id, data: { id, name: id } }]))), ctx)
      const start = (await pull(store, pullReq('reader', 0), ann)).revision
      const written: string[] = []
      for (let round = 0; round < 3; round++) {
        const ops = realms.map((realm, i) => create(`t${round}-${i}`, { realmId: realm }))
        await push(store, req('a1', ops.map(op => mutation('a1', [op]))), ctx)
        written.push(...ops.map(op => op.id))
      }
      const seen: Array<{ id: string; revision: number }> = []
      let since = start
      for (;;) {
        const p = await pull(store, { ...pullReq('reader', since), ...(since !== start ? { base: start } : {}) }, ann, 250)
        seen.push(...p.changes.map(c => ({ id: c.id, revision: c.revision })))
        since = p.revision
        if (!p.more) break
      }
      assert.deepStrictEqual(seen.map(c => c.id), written)
      assert.ok(seen.every((c, i) => i === 0 || c.revision > seen[i - 1]!.revision), 'in revision order')
    })

    t.it("makes a realm and its creator's own Member in one mutation, and a realm named after a user the server has not seen gives nobody that user's documents", async () => {
      const made = await push(
        store,
        req('a1', [mutation('a1', [{ type: 'create', collection: '_Realm', id: 'crew', data: { id: 'crew' } }, { type: 'create', collection: '_Member', id: 'crew\0ann', data: { realmId: 'crew', userId: 'ann', roles: ['admin'] } }])]),
        ctx,
      )
      assertMatches(made.results, [{ status: 'applied' }])
      // ann claims the id of carol, who has never synced: carol's own documents then go nowhere, and ann reads none of them
      assertMatches((await push(store, req('a1', [mutation('a1', [{ type: 'create', collection: '_Realm', id: 'carol', data: { id: 'carol' } }])]), ctx)).results, [{ status: 'applied' }])
      const carol: PushContext = { userId: 'carol', admin: false, minSchemaVersion: 1 }
      const diary = await push(store, req('c1', [mutation('c1', [{ type: 'create', collection: 'Todo', id: 'diary', data: { id: 'diary', realmId: 'carol' } }])]), carol)
      assertMatches(diary.results, [{ status: 'rejected', reason: 'permission-denied' }])
      assert.ok(!(await pull(store, pullReq('a2', 0), ann)).changes.some(c => c.id === 'diary'))
      // nor does carol read what ann keeps in the realm named after her: it is ann's, not carol's private one
      await push(store, req('a1', [mutation('a1', [{ type: 'create', collection: 'Todo', id: 'plans', data: { id: 'plans', realmId: 'carol' } }])]), ctx)
      assert.deepStrictEqual((await pull(store, pullReq('c1', 0), { userId: 'carol', everything: false })).changes, [])
      assert.ok(!(await store.readableRealms('carol')).includes('carol'))
      // a user who has signed in keeps their id: no Realm takes it
      await store.noteUser('dora')
      assertMatches((await push(store, req('a1', [mutation('a1', [{ type: 'create', collection: '_Realm', id: 'dora', data: { id: 'dora' } }])]), ctx)).results, [{ status: 'rejected', reason: 'permission-denied' }])
    })

    t.it('names a document deleted in a realm and created again under its key in another one, to the first realm\'s readers', async () => {
      const bob: Viewer = { userId: 'bob', everything: false }
      await push(
        store,
        req('a1', [
          mutation('a1', [
            { type: 'create', collection: '_Realm', id: 'shared', data: { id: 'shared' } },
            { type: 'create', collection: '_Member', id: 'shared\0bob', data: { realmId: 'shared', userId: 'bob', roles: ['read'] } },
            { type: 'create', collection: 'Todo', id: 'k', data: { id: 'k', realmId: 'shared' } },
          ]),
        ]),
        ctx,
      )
      const first = await pull(store, pullReq('b1', 0), bob)
      assert.ok(first.changes.some(c => c.id === 'k'))
      await push(store, req('a1', [mutation('a1', [{ type: 'delete', collection: 'Todo', id: 'k' }]), mutation('a1', [create('k', {})])]), ctx)
      const next = await pull(store, pullReq('b1', first.revision), bob)
      const gone = next.changes.some(c => c.id === 'k' && 'deleted' in c) || (next.evict?.docs ?? []).some(d => d.id === 'k')
      assert.ok(gone, `bob must learn that k left the realm: ${JSON.stringify(next)}`)
      assert.ok(!next.changes.some(c => c.id === 'k' && !('deleted' in c)), 'the new k is not bob\'s to read')
    })

    t.it('refuses a pull under the client id of another user', async () => {
      await push(store, req('c1', [mutation('c1', [create('a', {})])]), ctx)
      await assert.rejects(pull(store, pullReq('c1', 0), { userId: 'mallory', everything: false }), PermissionDeniedError)
    })

    t.it('sends, page after page, every field changed since the first page began', async () => {
      const set = (id: string, field: string) => mutation('w1', [{ type: 'set', collection: 'Todo', id, path: [field], value: 1 }])
      await push(store, req('w1', [mutation('w1', [create('d', { a: 0, b: 0 })])]), ctx)
      const start = (await pull(store, pullReq('reader', 0), ann)).revision
      await push(store, req('w1', [set('d', 'a')]), ctx)
      await push(store, req('w1', [mutation('w1', [create('e', {})])]), ctx)
      await push(store, req('w1', [mutation('w1', [create('f', {})])]), ctx)
      await push(store, req('w1', [set('d', 'b')]), ctx)
      // one document per page: d's row comes on the last page, at its latest change, with the change before it too
      const changes: unknown[] = []
      let since = start
      for (;;) {
        const p = await pull(store, { ...pullReq('reader', since), ...(since !== start ? { base: start } : {}) }, ann, 1)
        changes.push(...p.changes.filter(c => c.id === 'd').map(c => ('set' in c ? c.set : c)))
        since = p.revision
        if (!p.more) break
      }
      assert.deepStrictEqual(changes, [{ a: 1, b: 1 }])
    })

    t.it('keeps keys holding NUL exactly', async () => {
      await push(store, req('c1', [mutation('c1', [create('7\0Bo', { x: 'a\u0000b' })])]), ctx)
      const p = await pull(store, pullReq('other', 0), ann)
      assertMatches(p.changes, [{ id: '7\0Bo', doc: { id: '7\0Bo', x: 'a\u0000b' } }])
    })

    t.it('never lets a pull skip a change, with many concurrent pushers and a delayed commit', async () => {
      const N = 8
      let since = 0
      let stop = false
      const seen = new Map<string, number>()
      const puller = (async () => {
        while (!stop) {
          const p = await pull(store, pullReq('watcher', since), ann)
          for (const c of p.changes) assert.ok(c.revision <= p.revision, `a change at revision ${c.revision} came in a pull up to ${p.revision}`)
          for (const c of p.changes) seen.set(c.id, c.revision)
          since = p.revision
          await sleep(5)
        }
      })()
      // a transaction that takes its revision, then waits before committing
      const delayed = store.transaction(async tx => {
        const revision = await tx.nextRevision()
        await sleep(150)
        await tx.putDocs([{ collection: 'Todo', id: 'slow', data: { id: 'slow', realmId: 'ann' }, realm: 'ann', revision, fields: { '': { rev: revision, client: 'slow', kind: 'overwrite' } } }])
      })
      await Promise.all([
        delayed,
        ...Array.from({ length: N }, (_, c) =>
          (async () => {
            for (let i = 0; i < 5; i++) await push(store, req(`p${c}`, [mutation(`p${c}`, [create(`p${c}-${i}`, {})])]), ctx)
          })(),
        ),
      ])
      await sleep(50)
      stop = true
      await puller
      const final = await pull(store, pullReq('watcher', since), ann)
      for (const c of final.changes) seen.set(c.id, c.revision)
      assert.equal(seen.size, N * 5 + 1)
      assert.ok(seen.has('slow'), 'the delayed commit was pulled')
    })

    t.it('keeps its data and its clients across a restart', async () => {
      const m1 = mutation('c1', [create('a', { n: 1 })])
      const first = await push(store, req('c1', [m1]), ctx)
      const revision = await store.revision()
      await store.close()
      store = made.again()
      await store.open()
      assert.equal(await store.revision(), revision)
      const p = await pull(store, pullReq('other', 0), ann)
      assert.deepStrictEqual(p.changes, [{ collection: 'Todo', id: 'a', revision: first.results[0]!.revision, doc: { id: 'a', n: 1, realmId: 'ann' } }])
      // the client's sequence survives too: its last mutation is known, its next one applies
      assert.deepStrictEqual((await push(store, req('c1', [m1]), ctx)).results, first.results)
      const next = await push(store, req('c1', [mutation('c1', [{ type: 'increment', collection: 'Todo', id: 'a', path: ['n'], by: 1 }])]), ctx)
      assertMatches(next.results, [{ seq: 2, status: 'applied' }])
      assert.deepStrictEqual((await pull(store, pullReq('other', 0), ann)).changes.map(c => ('doc' in c ? c.doc : c)), [{ id: 'a', n: 2, realmId: 'ann' }])
    })
  })
}
