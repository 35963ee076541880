import Sqlite from 'better-sqlite3'
import pg from 'pg'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { postgresAvailable, storeFactories, type StoreFactory } from './stores.js'

const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)
const push = (clientId: string, mutations: string[]) => `{"type":"push","v":${PROTOCOL_VERSION},"clientId":${JSON.stringify(clientId)},"mutations":[${mutations.join(',')}]}`
const create = (seq: number, collection: string, id: string, data: string) =>
  `{"seq":${seq},"id":"m${seq}-${Math.random()}","ops":[{"type":"create","collection":${JSON.stringify(collection)},"id":${JSON.stringify(id)},"data":${data}}],"preconditions":[],"schemaVersion":1}`

for (const factory of storeFactories) {
  describe(`the server on ${factory.name} against hostile input`, () => {
    let available = true
    let made: ReturnType<StoreFactory['make']>
    let server: TidepoolServer
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
    })
    beforeEach(async c => {
      if (!available) return c.skip()
      made = factory.make()
      server = await createServer({ storage: made.store, port: 0 })
    })
    afterEach(async () => {
      if (!available) return
      await server.close()
      await made.cleanup()
    })
    const post = async (path: string, body: string) => {
      const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      return { status: res.status, body: (await res.json()) as { results?: Array<{ status: string; reason?: string; message?: string }>; changes?: Array<{ id: string }>; error?: string } }
    }
    const pull = (since: string | number, clientId = 'reader') => post('/v1/pull', `{"type":"pull","v":${PROTOCOL_VERSION},"clientId":${JSON.stringify(clientId)},"since":${since}}`)

    it('rejects a document nested thousands deep as one invalid mutation, and every pull goes on answering', async () => {
      for (const [i, levels] of [4113, 10_000].entries()) {
        const r = await post('/v1/push', push(`deep-${i}`, [create(1, 'Doc', `deep-${i}`, deep(levels)), create(2, 'Doc', `fine-${i}`, '{"ok":true}')]))
        expect(r.status).toBe(200)
        expect(r.body.results!.map(x => [x.status, x.reason])).toEqual([
          ['rejected', 'invalid'],
          ['applied', undefined],
        ])
        expect(r.body.results![0]!.message).toMatch(/nests deeper than 32/)
      }
      const all = await pull(0)
      expect(all.status).toBe(200)
      expect(all.body.changes!.map(c => c.id).sort()).toEqual(['fine-0', 'fine-1'])
    })

    it('leaves out of a pull a document stored before the rules that it can no longer encode, and answers', async () => {
      // as an older server could have stored it: a row written as text, nested far deeper than JSON.stringify goes
      const text = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)
      const fields = JSON.stringify({ '': { rev: 1, client: 'old', kind: 'overwrite' } })
      const rows = [
        ['too-deep', text],
        ['fine', '{"ok":true}'],
      ]
      if (factory.name === 'sqlite') {
        const raw = new Sqlite(made.url)
        raw.prepare('UPDATE tp_revision SET value = 1').run()
        for (const [id, data] of rows) raw.prepare('INSERT INTO tp_docs (collection, id, data, revision, fields) VALUES (?, ?, ?, 1, ?)').run('Doc', id, data, fields)
        raw.close()
      } else {
        const url = new URL(made.url)
        const schema = url.searchParams.get('schema')!
        url.searchParams.delete('schema')
        const raw = new pg.Client({ connectionString: url.toString() })
        await raw.connect()
        await raw.query(`UPDATE ${schema}.tp_revision SET value = 1`)
        for (const [id, data] of rows) await raw.query(`INSERT INTO ${schema}.tp_docs (collection, id, data, revision, fields) VALUES ($1, $2, $3, 1, $4)`, ['Doc', id, data, fields])
        await raw.end()
      }
      const r = await pull(0)
      expect(r.status).toBe(200)
      expect(r.body.changes!.map(c => c.id)).toEqual(['fine'])
    })

    it('answers NUL in names, out-of-range integers and over-long ids with a 4xx or a rejection, never a 5xx', async () => {
      expect((await post('/v1/push', push('client\u0000id', [create(1, 'Doc', 'a', '{}')]))).status).toBe(400)
      const mutationNul = create(1, 'Doc', 'a', '{}').replace('"id":"m1-', '"id":"m1\\u0000-')
      expect((await post('/v1/push', push('c1', [mutationNul]))).status).toBe(400)
      const badCollection = await post('/v1/push', push('c2', [create(1, 'Do\u0000c', 'a', '{}')]))
      expect(badCollection.body.results![0]).toMatchObject({ status: 'rejected', reason: 'invalid' })
      const longId = await post('/v1/push', push('c3', [create(1, 'Doc', 'x'.repeat(4096), '{}')]))
      expect(longId.body.results![0]).toMatchObject({ status: 'rejected', reason: 'invalid' })
      const lone = await post('/v1/push', push('c4', [create(1, 'Doc', 'a\ud800', '{}'), create(2, 'Doc', 'a\ufffd', '{}')]))
      expect(lone.body.results!.map(x => x.status)).toEqual(['rejected', 'applied'])
      for (const since of ['9223372036854775808', '1e300', '-1', '1.5']) expect((await pull(since)).status).toBe(400)
      const huge = create(1, 'Doc', 'b', '{}').replace('"seq":1', '"seq":9007199254740993')
      expect((await post('/v1/push', push('c5', [huge]))).status).toBe(400)
      const infinite = await post('/v1/push', push('c6', [create(1, 'Doc', 'n', '{"n":1e309}')]))
      expect(infinite.body.results![0]).toMatchObject({ status: 'rejected', reason: 'invalid' })
      const proto = await post('/v1/push', push('c7', [create(1, 'Doc', 'p', '{"__proto__":{"x":1}}')]))
      expect(proto.status).toBe(400)
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
    })

    it('rejects an increment that would overflow, keeping the value it had', async () => {
      const inc = (seq: number) => `{"seq":${seq},"id":"i${seq}","ops":[{"type":"increment","collection":"Doc","id":"n","path":["n"],"by":1e308}],"preconditions":[],"schemaVersion":1}`
      const r = await post('/v1/push', push('inc', [create(1, 'Doc', 'n', '{"n":1e308}'), inc(2)]))
      expect(r.body.results!.map(x => [x.status, x.reason])).toEqual([
        ['applied', undefined],
        ['rejected', 'invalid'],
      ])
      const [doc] = (await pull(0)).body.changes as unknown as Array<{ doc: { n: number } }>
      expect(doc!.doc.n).toBe(1e308)
    })
  })
}
