import { createServer as createHttpServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Member, Realm, memoryStorage, model, openDatabase, S, type Database } from '../../src/index.js'
import { shareDevtools } from '../../src/devtools.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { until } from '../helpers/until.js'

class Note extends model({ collection: 'Note', fields: { text: S.str, n: S.int.default(0) } }) {}

describe('db.inspect()', () => {
  let server: TidepoolServer | undefined
  const dbs: Database[] = []
  afterEach(async () => {
    await Promise.all(dbs.splice(0).map(db => db.close()))
    await server?.close()
    server = undefined
  })
  const open = async (options: Partial<Parameters<typeof openDatabase>[0]> = {}) => {
    const db = await openDatabase({ name: 'notes', models: [Note], storage: memoryStorage(), ...options } as Parameters<typeof openDatabase>[0])
    dbs.push(db)
    return db
  }

  it('lists the outbox with ops and preconditions, the documents of a collection, and the open subscriptions', async () => {
    const db = await open()
    await db.run(tx => void tx.create(Note, { id: 'a', text: 'first' }))
    await db.run(async tx => {
      const a = await tx.get(Note, 'a')
      a!.getField('n').incrementBy(2)
    })
    const stopQuery = db.query(Note).where('n', '>=', 1).orderBy('n', 'desc').limit(5).subscribe(() => undefined)
    const stopWatch = db.watch(Note, 'a', () => undefined)
    await until('the live query and the watch have their results', async () => (await db.inspect()).subscriptions.filter(s => s.results === 1).length === 2)

    const report = await db.inspect({ documents: { collection: 'Note' } })
    expect(report.name).toBe('notes')
    expect(report.collections).toEqual([{ name: 'Note', docs: 1, pending: 1, deleting: 0 }])
    expect(report.outbox.map(m => m.ops.map(o => o.type))).toEqual([['create'], ['increment']])
    // the read of "a" made the increment conditional on its existence
    expect(report.outbox[1]!.preconditions).toContainEqual(expect.objectContaining({ type: 'exists', collection: 'Note', id: 'a' }))
    expect(report.documents).toEqual({ Note: [{ id: 'a', data: expect.objectContaining({ text: 'first', n: 2 }), pending: true }] })
    expect(report.subscriptions).toEqual([
      { collection: 'Note', query: expect.objectContaining({ filters: [{ path: ['n'], op: '>=', value: 1 }], limit: 5 }), results: 1 },
      { collection: 'Note', id: 'a', results: 1 },
    ])
    expect(report.stats.operations.commit?.count).toBe(2)
    expect(report.status).toBeUndefined()

    stopQuery()
    stopWatch()
    expect((await db.inspect()).subscriptions).toEqual([])

    // the report is a copy: changing it changes nothing in the database
    const copy = await db.inspect({ documents: { collection: 'Note' } })
    copy.documents!.Note![0]!.data!.text = 'changed'
    copy.outbox[0]!.ops[0]!.type = 'delete'
    expect((await db.run(tx => tx.get(Note, 'a')))?.text).toBe('first')
    expect((await db.pendingMutations())[0]!.ops[0]!.type).toBe('create')
  })

  it("shows the sync status with its history and the user's memberships once synced", async () => {
    server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
    const db = await open({ sync: { url: server.url, pollInterval: 0 } })
    await db.run(tx => {
      tx.create(Realm, { id: 'trip', name: 'Trip' })
    })
    await db.sync!.syncNow()
    await db.sync!.syncNow()
    const report = await db.inspect()
    expect(report.outbox).toEqual([])
    expect(report.status).toMatchObject({ phase: 'in-sync', pending: 0 })
    expect(report.memberships).toEqual([{ realmId: 'trip', roles: ['admin'] }])
    // it went through pushing before it was in sync, with the realm pending
    const phases = report.statusHistory.map(s => s.phase)
    expect(phases).toContain('pushing')
    expect(phases.at(-1)).toBe('in-sync')
    expect(report.statusHistory.some(s => s.pending === 1)).toBe(true)

    // a membership deleted here (not yet pushed) is no longer listed
    await db.sync!.stop()
    await db.run(async tx => {
      const mine = await tx.get(Member, { realmId: 'trip', userId: 'anonymous' })
      tx.delete(mine!)
    })
    const after = await db.inspect()
    expect(after.memberships).toEqual([])
    expect(after.collections.find(c => c.name === '_Member')).toMatchObject({ deleting: 1 })
  })
})

describe('tidepool serve --devtools: reports of replicas without a page', () => {
  let server: TidepoolServer | undefined
  afterEach(async () => server?.close())

  it('keeps the latest report of each replica that shares, and lists them', async () => {
    server = await createServer({ storage: ':memory:', port: 0, models: [Note], devtools: true })
    const db = await openDatabase({ name: 'node-app', models: [Note], storage: memoryStorage(), sync: { url: server.url, pollInterval: 0 } })
    const shared = shareDevtools(db, { url: server.url })
    try {
      await db.sync.syncNow()
      await shared.flush()
      const listed = (await (await fetch(`${server.url}/v1/devtools/reports`)).json()) as Array<{ clientId: string; userId: string; name: string }>
      expect(listed).toEqual([expect.objectContaining({ clientId: db.clientId, userId: 'anonymous', name: 'node-app' })])

      // offline, a write waits in the outbox, and the next report says so on its own
      await server.close()
      server = await createServer({ storage: ':memory:', port: 0, models: [Note], devtools: true })
      const moved = shareDevtools(db, { url: server.url })
      shared.stop()
      await db.run(tx => void tx.create(Note, { id: 'n1', text: 'while the server was away' }))
      await until('the report of the write reaches the server', async () => {
        const res = await fetch(`${server!.url}/v1/devtools/reports/${db.clientId}`)
        return res.ok && ((await res.json()) as { outbox: unknown[] }).outbox.length === 1
      })
      const report = (await (await fetch(`${server.url}/v1/devtools/reports/${db.clientId}`)).json()) as { outbox: Array<{ ops: Array<{ type: string; id: string }> }>; documents: Record<string, Array<{ id: string }>> }
      expect(report.outbox[0]!.ops).toEqual([expect.objectContaining({ type: 'create', id: 'n1' })])
      expect(report.documents.Note!.map(d => d.id)).toEqual(['n1'])
      moved.stop()
    } finally {
      shared.stop()
      await db.close()
    }
  })

  it('refuses a malformed or misfiled report, and a client reporting as another user', async () => {
    const secret = 'devtools-test-secret-devtools-test-secret'
    server = await createServer({ storage: ':memory:', port: 0, devtools: true, auth: { secret, allowNoExpiry: true } })
    const { SignJWT } = await import('jose')
    const token = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret))
    const put = async (clientId: string, body: string, sub?: string) =>
      fetch(`${server!.url}/v1/devtools/reports/${clientId}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...(sub ? { authorization: `Bearer ${await token(sub)}` } : {}) }, body })
    const good = JSON.stringify({ name: 'x', at: 1, head: { clientId: 'c1' } })
    expect((await put('c1', good)).status).toBe(401)
    expect((await put('c1', '[1,2]', 'ann')).status).toBe(400)
    expect((await put('c1', '{not json', 'ann')).status).toBe(400)
    const misfiled = await put('c2', good, 'ann')
    expect(misfiled.status).toBe(400)
    expect(((await misfiled.json()) as { message: string }).message).toContain('head.clientId must be "c2"')
    expect((await put('c1', good, 'ann')).status).toBe(200)
    expect((await put('c1', good, 'bob')).status).toBe(403)
    expect((await fetch(`${server.url}/v1/devtools/reports/nobody`)).status).toBe(404)
    // the server still answers
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })

  it('answers only under a local host name, serves only the panel modules, and refuses an oversized report', async () => {
    // the built package: the panel modules it serves are its own dist/ files
    const { createServer: createBuiltServer } = await import('tidepool/server')
    server = await createBuiltServer({ storage: ':memory:', port: 0, devtools: true })
    const get = (path: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${server!.url}${path}`, { headers: { host } }, res => (res.resume(), resolve(res.statusCode!)))
        req.on('error', reject)
        req.end()
      })
    // a page elsewhere that rebinds its own name to 127.0.0.1 sends its name
    expect(await get('/v1/devtools/reports', 'evil.example')).toBe(403)
    expect(await get('/devtools', 'evil.example:4000')).toBe(403)
    expect(await get('/v1/devtools/reports', `localhost:${server.port}`)).toBe(200)
    expect(await get('/v1/devtools/reports', `127.0.0.1:${server.port}`)).toBe(200)
    expect((await fetch(`${server.url}/v1/devtools/reports`, { headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403)
    expect((await fetch(`${server.url}/devtools/lib/devtools/panel.js`)).status).toBe(200)
    for (const other of ['index.js', 'server/app.js', 'devtools/panel.d.ts', '../package.json']) expect((await fetch(`${server.url}/devtools/lib/${other}`)).status, other).toBe(404)
    const huge = JSON.stringify({ name: 'x', at: 1, head: { clientId: 'c' }, pad: 'x'.repeat(5 * 1024 * 1024) })
    expect((await fetch(`${server.url}/v1/devtools/reports/c`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: huge })).status).toBe(413)
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })

  it('shares under the base path of the URL, says why a report was refused, and stops when the database closes', async () => {
    const seen: string[] = []
    const refusing = createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url}`)
      req.resume()
      res.writeHead(503).end('not now')
    })
    await new Promise<void>(resolve => refusing.listen(0, '127.0.0.1', resolve))
    const { port } = refusing.address() as AddressInfo
    const db = await openDatabase({ name: 'n', models: [Note], storage: memoryStorage() })
    const shared = shareDevtools(db, { url: `http://127.0.0.1:${port}/api/` })
    try {
      await expect(shared.flush()).rejects.toThrow(/503 not now/)
      expect(seen).toEqual([`PUT /api/v1/devtools/reports/${db.clientId}`])
      expect(shared.lastError).toMatch(/refused: 503/)
      await db.close()
      await expect(shared.flush()).rejects.toThrow(/closed/)
      // stopped: nothing more is sent
      await shared.flush()
      expect(seen).toHaveLength(1)
    } finally {
      shared.stop()
      refusing.close()
    }
  })

  it('is not there without the option', async () => {
    server = await createServer({ storage: ':memory:', port: 0 })
    expect((await fetch(`${server.url}/devtools`)).status).toBe(404)
    expect((await fetch(`${server.url}/v1/devtools/reports`)).status).toBe(404)
  })
})
