import type { ChildProcess } from 'node:child_process'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PermissionDeniedError } from '../../src/core/errors.js'
import type { Op } from '../../src/core/mutation.js'
import { PROTOCOL_VERSION, type PullResponse, type PushRequest, type PushResponse } from '../../src/protocol/messages.js'
import { pull } from '../../src/server/pull.js'
import { commitBatch, push, type PushContext } from '../../src/server/push.js'
import { serveCli } from '../helpers/cli-server.js'
import { postgresAvailable, storeFactories } from './stores.js'

const ann: PushContext = { userId: 'ann', admin: false, minSchemaVersion: 1 }
const create = (id: string, extra: object = {}): Op => ({ type: 'create', collection: 'Note', id, data: { id, ...extra } })
const one = (clientId: string, ops: Op[], preconditions: PushRequest['mutations'][number]['preconditions'] = [], seq = 1): PushRequest => ({
  type: 'push',
  v: PROTOCOL_VERSION,
  clientId,
  mutations: [{ seq, id: `${clientId}-${seq}`, ops, preconditions, schemaVersion: 1 }],
})

let postgres = false
beforeAll(async () => {
  postgres = await postgresAvailable()
})

for (const factory of storeFactories) {
  describe(`group commit on ${factory.name}`, () => {
    let cleanup: () => Promise<void> = async () => undefined
    afterEach(async () => cleanup())

    it('applies a batch in one transaction, each mutation checked on its own, and a push that fails fails alone', async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      const made = factory.make()
      const store = made.store
      await store.open()
      cleanup = async () => {
        await store.close()
        await made.cleanup()
      }
      // bob's client, then ann's pushes: one of them under bob's client id
      await push(store, one('bob-client', [create('b1')]), { ...ann, userId: 'bob' })
      const { outcomes, committed } = await commitBatch(store, [
        { req: one('c1', [create('n1')]), ctx: ann },
        { req: one('c2', [create('n1')]), ctx: ann },
        { req: one('bob-client', [create('stolen')], [], 2), ctx: ann },
        { req: one('c3', [create('n3')], [{ type: 'exists', collection: 'Note', id: 'nowhere' }]), ctx: ann },
        { req: one('c4', [create('n4')]), ctx: ann },
        // the same client again in the same batch: its second mutation follows its first
        { req: one('c1', [{ type: 'set', collection: 'Note', id: 'n1', path: ['text'], value: 'second' }], [], 2), ctx: ann },
      ])
      const status = outcomes.map(o => ('error' in o ? (o.error as Error).constructor.name : o.response.results.map(r => (r.status === 'rejected' ? r.reason : r.status)).join()))
      expect(status).toEqual(['applied', 'already-exists', PermissionDeniedError.name, 'condition-failed', 'applied', 'applied'])
      expect(new Set(committed?.written.map(d => d.id))).toEqual(new Set(['n1', 'n4']))
      expect(new Set(committed!.clients.map(p => p.clientId))).toEqual(new Set(['c1', 'c4']))
      // everything answered together is durable together, and nothing of the refused push is there
      const p = await pull(store, { type: 'pull', v: PROTOCOL_VERSION, clientId: 'reader', since: 0 }, { userId: 'ann', everything: false })
      expect(p.changes.map(ch => ('doc' in ch ? `${ch.id}:${String(ch.doc.text)}` : ch.id)).sort()).toEqual(['n1:second', 'n4:undefined'])
      const bob = await pull(store, { type: 'pull', v: PROTOCOL_VERSION, clientId: 'bob-reader', since: 0 }, { userId: 'bob', everything: false })
      expect(bob.changes.map(ch => ch.id)).toEqual(['b1'])
      // the batch's answers carry one revision: the one it ended at
      const revisions = new Set(outcomes.flatMap(o => ('response' in o ? [o.response.revision] : [])))
      expect([...revisions]).toEqual([await store.revision()])
    })

    it('answers 100 concurrent single-mutation pushes (some rejected) only once durable: a SIGKILL right after loses none', async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      const made = factory.make()
      let child: ChildProcess | undefined
      cleanup = async () => {
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise(r => child!.once('exit', r))
          child.kill('SIGKILL')
          await exited
        }
        await made.cleanup()
      }
      let server = await serveCli(made.url)
      child = server.child
      const post = async <T>(path: string, body: unknown): Promise<T> => {
        const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        expect(res.status).toBe(200)
        return (await res.json()) as T
      }
      // 100 clients at once: 80 distinct notes, 10 that collide with one of them, 10 whose precondition fails
      const requests = Array.from({ length: 100 }, (_, i) =>
        i < 80 ? one(`g${i}`, [create(`note-${i}`)]) : i < 90 ? one(`g${i}`, [create(`note-${i - 80}`)]) : one(`g${i}`, [create(`cond-${i}`)], [{ type: 'exists', collection: 'Note', id: 'missing' }]),
      )
      const answers = await Promise.all(requests.map(r => post<PushResponse>('/v1/push', r)))
      const results = answers.map(a => a.results[0]!)
      expect(results.filter(r => r.status === 'applied')).toHaveLength(80)
      expect(results.filter(r => r.status === 'rejected' && r.reason === 'already-exists')).toHaveLength(10)
      expect(results.filter(r => r.status === 'rejected' && r.reason === 'condition-failed')).toHaveLength(10)
      const applied = new Set(requests.filter((_, i) => results[i]!.status === 'applied').map(r => (r.mutations[0]!.ops[0] as { id: string }).id))
      // killed at once, with no chance to flush anything: what was answered must already be on disk
      const exited = new Promise(r => child!.once('exit', r))
      child.kill('SIGKILL')
      await exited
      server = await serveCli(made.url)
      child = server.child
      const p = await post<PullResponse>('/v1/pull', { type: 'pull', v: PROTOCOL_VERSION, clientId: 'after-restart', since: 0 })
      expect(new Set(p.changes.map(ch => ch.id))).toEqual(applied)
      // and every client's mutation is known: sent again, it is acknowledged, not applied twice
      const again = await post<PushResponse>('/v1/push', requests[0])
      expect(again.results[0]).toEqual(results[0])
    })
  })
}
