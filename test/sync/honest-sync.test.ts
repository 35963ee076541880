import { createServer as httpServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthenticationError, HttpError, model, OfflineError, openDatabase, S, type Database } from '../../src/index.js'
import { createServer, type TidepoolServer } from '../../src/server.js'

class Note extends model({ collection: 'Note', fields: { text: S.str } }) {}

/** A server that answers every request with `status` and `body`. */
async function answering(status: number, body: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = httpServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body))
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise(r => server.close(() => r())) }
}

describe('syncNow and confirm tell what went wrong', () => {
  const dbs: Database[] = []
  const closers: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.close()
    for (const c of closers.splice(0)) await c()
  })
  const open = async (url: string, token?: () => string) => {
    const db = await openDatabase({ name: 'honest', models: [Note], sync: { url, socket: false, pollInterval: 3_600_000, ...(token ? { token } : {}) } })
    dbs.push(db)
    await db.run(tx => void tx.create(Note, { text: 'waits' }))
    return db
  }

  it('rejects with OfflineError when the server cannot be reached', async () => {
    const db = await open('http://127.0.0.1:9')
    await expect(db.sync.syncNow()).rejects.toBeInstanceOf(OfflineError)
    expect(db.sync.status).toMatchObject({ phase: 'offline', pending: 1 })
    await expect(db.run({ confirm: 'server' }, tx => void tx.create(Note, { text: 'never' }))).rejects.toBeInstanceOf(OfflineError)
  })

  it('rejects with the status of a server that is not a Tidepool server, or fails', async () => {
    for (const [status, body] of [
      [404, 'not here'],
      [500, JSON.stringify({ type: 'error', v: 1, error: 'internal', message: 'internal server error' })],
    ] as const) {
      const other = await answering(status, body)
      closers.push(other.close)
      const db = await open(other.url)
      const failure = await db.sync.syncNow().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(failure).toBeInstanceOf(HttpError)
      expect((failure as HttpError).status).toBe(status)
      expect(db.sync.status.phase).toBe('error')
      await db.close()
      dbs.splice(dbs.indexOf(db), 1)
    }
  })

  it('rejects with AuthenticationError when the server refuses the token, and so does confirm: server', async () => {
    const server: TidepoolServer = await createServer({ storage: ':memory:', port: 0, auth: { secret: 'honest-secret' } })
    closers.push(() => server.close())
    const db = await open(server.url, () => 'not-a-token')
    await expect(db.sync.syncNow()).rejects.toBeInstanceOf(AuthenticationError)
    expect(db.sync.status.phase).toBe('error')
    await expect(db.run({ confirm: 'server' }, tx => void tx.create(Note, { text: 'never' }))).rejects.toBeInstanceOf(AuthenticationError)
    expect(await db.pendingMutations()).toHaveLength(1)
  })
})
