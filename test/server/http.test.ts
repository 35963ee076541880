import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { Model, S } from '../../src/index.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { postgresAvailable, storeFactories, type StoreFactory } from './stores.js'

class Todo extends Model {
  static override COLLECTION = 'Todo'
  static override FIELDS = { title: S.str, done: S.bool.default(false), created: S.int.readOnly().default(0) }
}
const SECRET = 'test-secret-with-enough-length-0123456789'
const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

for (const factory of storeFactories) {
  describe(`HTTP server on ${factory.name}`, () => {
    let available = true
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
    })
    let made: ReturnType<StoreFactory['make']>
    let server: TidepoolServer
    let ann: string
    beforeEach(async c => {
      if (!available) return c.skip()
      made = factory.make()
      server = await createServer({ storage: made.store, port: 0, models: [Todo], auth: { secret: SECRET } })
      ann = await token('ann')
    })
    afterEach(async () => {
      if (!available) return
      await server.close()
      await made.cleanup()
    })
    const post = (path: string, body: unknown, auth: string | undefined = ann, raw = false) =>
      fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: raw ? (body as string) : JSON.stringify(body),
      })
    const pushOf = (clientId: string, mutations: unknown[]) => ({ type: 'push', v: PROTOCOL_VERSION, clientId, mutations })
    const m = (seq: number, ops: unknown[]) => ({ seq, id: `m${seq}`, ops, preconditions: [], schemaVersion: 1 })

    it('pushes and pulls over HTTP, validating writes with the models', async () => {
      const res = await post(
        '/v1/push',
        pushOf('c1', [
          m(1, [{ type: 'create', collection: 'Todo', id: 'a', data: { id: 'a', title: 'milk', done: false, created: 1 } }]),
          m(2, [{ type: 'set', collection: 'Todo', id: 'a', path: ['title'], value: 42 }]),
          m(3, [{ type: 'set', collection: 'Todo', id: 'a', path: ['created'], value: 2 }]),
          m(4, [{ type: 'create', collection: 'Nope', id: 'x', data: {} }]),
        ]),
      )
      expect(res.status).toBe(200)
      const body = (await res.json()) as { results: Array<{ status: string; reason?: string; message?: string }> }
      expect(body.results.map(r => r.reason ?? r.status)).toEqual(['applied', 'invalid', 'invalid', 'invalid'])
      expect(body.results[2]!.message).toMatch(/created is read-only/)
      const pulled = (await (await post('/v1/pull', { type: 'pull', v: PROTOCOL_VERSION, clientId: 'c2', since: 0 })).json()) as { changes: unknown[] }
      expect(pulled.changes).toMatchObject([{ id: 'a', doc: { title: 'milk' } }])
    })

    it('answers malformed, invalid and oversized requests with a clear 4xx, and stays up', async () => {
      const bad = async (res: Response, status: number, message: RegExp) => {
        expect(res.status).toBe(status)
        const body = (await res.json()) as { type: string; message: string }
        expect(body.type).toBe('error')
        expect(body.message).toMatch(message)
      }
      await bad(await post('/v1/push', '{"type": "push",', ann, true), 400, /JSON/i)
      await bad(await post('/v1/push', { type: 'push', v: 99, clientId: 'c', mutations: [] }), 400, /push\.v/)
      await bad(await post('/v1/push', pushOf('c', [{ seq: 0 }])), 400, /push\.mutations/)
      await bad(await post('/v1/push', pushOf('c', [m(1, [{ type: 'explode', collection: 'Todo', id: 'a' }])])), 400, /ops/)
      await bad(await post('/v1/pull', { type: 'pull', v: PROTOCOL_VERSION, clientId: 'c', since: -1 }), 400, /since/)
      await bad(await post('/v1/push', 'x'.repeat(9 * 1024 * 1024), ann, true), 413, /too large/i)
      await bad(await post('/v1/push', pushOf('c', []), ''), 401, /bearer token/)
      await bad(await post('/v1/push', pushOf('c', []), 'not.a.jwt'), 401, /invalid token/)
      const health = await fetch(`${server.url}/health`)
      expect(await health.json()).toMatchObject({ status: 'ok', store: factory.name })
    })

    it('binds a client id to the user of its first push', async () => {
      expect((await post('/v1/push', pushOf('mine', [m(1, [])]))).status).toBe(200)
      const res = await post('/v1/push', pushOf('mine', [m(2, [])]), await token('eve'))
      expect(res.status).toBe(403)
    })

    it('pokes connected sockets after a push, and refuses sockets without a valid token', async () => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/socket?token=${ann}`)
      const messages: Array<{ type: string; revision: number }> = []
      ws.on('message', d => messages.push(JSON.parse(String(d))))
      await new Promise(r => ws.on('open', r))
      await post('/v1/push', pushOf('c1', [m(1, [{ type: 'create', collection: 'Todo', id: 'p', data: { id: 'p', title: 't', done: false, created: 0 } }])]))
      const deadline = Date.now() + 2000
      while (messages.length < 2 && Date.now() < deadline) await new Promise(r => setTimeout(r, 10))
      expect(messages.map(x => x.type)).toEqual(['poke', 'poke'])
      expect(messages[1]!.revision).toBeGreaterThan(messages[0]!.revision)
      ws.close()
      const refused = new WebSocket(`${server.url.replace('http', 'ws')}/v1/socket?token=bad`)
      await expect(new Promise((_, reject) => refused.on('error', reject))).rejects.toThrow(/401/)
      const metrics = await (await fetch(`${server.url}/metrics`)).text()
      expect(metrics).toMatch(/tidepool_applied_total 1/)
    })
  })
}

describe('static files', () => {
  it('serves a directory at / beside the sync API, and refuses a missing directory clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-static-'))
    writeFileSync(join(dir, 'index.html'), '<h1>app</h1>')
    const server = await createServer({ storage: join(dir, 'server.db'), port: 0, static: dir })
    try {
      expect(await (await fetch(`${server.url}/`)).text()).toBe('<h1>app</h1>')
      expect((await fetch(`${server.url}/missing.js`)).status).toBe(404)
      expect((await (await fetch(`${server.url}/health`)).json()) as object).toMatchObject({ status: 'ok' })
    } finally {
      await server.close()
    }
    await expect(createServer({ storage: join(dir, 'other.db'), port: 0, static: join(dir, 'nope') })).rejects.toThrow(/nope is not a directory/)
    rmSync(dir, { recursive: true, force: true })
  })
})
