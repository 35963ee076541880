import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { Model, S, openDatabase, type Database } from '../../src/index.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { until } from '../helpers/until.js'

const SECRET = 'token-secret'
const sign = (claims: { sub?: unknown; exp?: number | string }, alg = 'HS256') => {
  const jwt = new SignJWT(claims.sub === undefined ? {} : { sub: claims.sub as string }).setProtectedHeader({ alg })
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp)
  return jwt.sign(new TextEncoder().encode(SECRET))
}
const pushBody = (clientId: string, seq: number) =>
  JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId, mutations: [{ seq, id: `${clientId}-${seq}`, ops: [], preconditions: [], schemaVersion: 1 }] })

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str }
}

describe('tokens', () => {
  let server: TidepoolServer | undefined
  const dbs: Database[] = []
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.close()
    await server?.close()
    server = undefined
  })
  const push = async (t: string, clientId: string, seq: number) =>
    (await fetch(`${server!.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` }, body: pushBody(clientId, seq) })).status

  it('take the subject as it is on the wire, pin the algorithm, and need an expiry unless allowed', async () => {
    server = await createServer({ storage: ':memory:', port: 0, auth: { secret: SECRET } })
    const numeric = await sign({ sub: 123, exp: '1h' })
    expect([await push(numeric, 'numeric', 1), await push(numeric, 'numeric', 2)]).toEqual([200, 200])
    expect(await push(await sign({ sub: 'ann' }), 'no-exp', 1)).toBe(401)
    expect(await push(await sign({ sub: 'ann', exp: '1h' }, 'HS384'), 'hs384', 1)).toBe(401)
    expect(await push(await sign({ sub: 'ann', exp: '1h' }, 'HS512'), 'hs512', 1)).toBe(401)
    expect(await push(await sign({ exp: '1h' }), 'no-sub', 1)).toBe(401)
    await server.close()
    server = await createServer({ storage: ':memory:', port: 0, auth: { secret: SECRET, algorithms: ['HS512'], allowNoExpiry: true } })
    expect(await push(await sign({ sub: 'ann' }, 'HS512'), 'allowed', 1)).toBe(200)
    expect(await push(await sign({ sub: 'ann', exp: '1h' }), 'hs256', 1)).toBe(401)
  })

  it('close a socket when its token expires; the client reconnects with a fresh token', async () => {
    server = await createServer({ storage: ':memory:', port: 0, auth: { secret: SECRET } })
    let tokens = 0
    // each token lives two seconds (JWT expiry counts whole seconds)
    const token = () => (tokens++, sign({ sub: 'ann', exp: Math.floor(Date.now() / 1000) + 2 }))
    const raw = new WebSocket(`${server.url.replace('http', 'ws')}/v1/socket?token=${await token()}`)
    const closed = new Promise<number>(resolve => raw.on('close', code => resolve(code)))
    expect(await closed).toBe(4001)
    const db = await openDatabase({ name: 'ann', models: [Note], sync: { url: server.url, token, pollInterval: 3_600_000 } })
    dbs.push(db)
    const sockets = async () => Number(/tidepool_sockets (\d+)/.exec(await (await fetch(`${server!.url}/metrics`)).text())![1])
    const before = tokens
    await until('the socket reopened after its token expired', async () => tokens >= before + 2 && (await sockets()) === 1, 15_000)
  })
})

describe('a socket that does not read', () => {
  let child: ChildProcess | undefined
  let cleanup = () => undefined as void
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise(r => child!.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    cleanup()
  })

  it('is closed once its unsent data passes the limit, and the server’s memory stays flat', { timeout: 120_000 }, async () => {
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js')
    const LIMIT = Number(process.env.TIDEPOOL_TEST_SOCKET_BUFFER ?? 256 * 1024)
    // on a file: an in-memory database would grow with the documents themselves
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-stalled-'))
    cleanup = () => rmSync(dir, { recursive: true, force: true })
    child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--db', join(dir, 'server.db'), '--socket-buffer', String(LIMIT)], { stdio: ['ignore', 'pipe', 'inherit'] })
    const url = await new Promise<string>(resolve => {
      let out = ''
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
        if (m) resolve(m[1]!)
      })
    })
    const metric = async (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(await (await fetch(`${url}/metrics`)).text())![1])
    const stalled = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/socket`)
        await new Promise(r => ws.once('open', r))
        // reads nothing from here on: the kernel's buffers fill, then the server's
        ;(ws as unknown as { _socket: { pause(): void } })._socket.pause()
        return ws
      }),
    )
    const rss = await metric('process_resident_memory_bytes')
    // about 15 KiB of changes per commit ride on every poke: 2,500 commits are 375 MiB for ten sockets that never read
    const text = 'x'.repeat(15 * 1024)
    const COMMITS = 2500
    let buffered = 0
    for (let seq = 1; seq <= COMMITS; seq++) {
      if (seq % 100 === 0) buffered = Math.max(buffered, await metric('tidepool_sockets_buffered_bytes'))
      const body = JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: 'writer', mutations: [{ seq, id: `w${seq}`, ops: [{ type: 'create', collection: 'Note', id: `n${seq}`, data: { text } }], preconditions: [], schemaVersion: 1 }] })
      expect((await fetch(`${url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status).toBe(200)
    }
    // what the server holds for them never passes the limit per socket (plus the message that passed it)
    expect(buffered).toBeLessThan(10 * (LIMIT + 32 * 1024))
    expect(await metric('tidepool_sockets_dropped_total')).toBe(10)
    expect(await metric('tidepool_sockets')).toBe(0)
    expect(await metric('process_resident_memory_bytes')).toBeLessThan(rss + 128 * 1024 * 1024)
    for (const ws of stalled) ws.terminate()
  })
})
