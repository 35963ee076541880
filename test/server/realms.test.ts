import { SignJWT } from 'jose'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { Member, memoryStorage, model, OfflineError, openDatabase, Realm, S, WrongUserError, type Database, type Snapshot } from '../../src/index.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { sqliteStorage } from '../../src/replica/sqlite.js'
import { httpTransport, type Transport } from '../../src/sync/transport.js'
import { serveCli } from '../helpers/cli-server.js'
import { cuttable } from '../helpers/cuttable.js'
import { until } from '../helpers/until.js'

const SECRET = 'realm-secret'
const sign = (sub: string, seconds = 3600) =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET))

class Todo extends model({ collection: 'Todo', fields: { title: S.str, done: S.bool.default(false) } }) {}

let child: ChildProcess
let url: string
let dir: string
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidepool-realms-'))
  ;({ child, url } = await serveCli(join(dir, 'server.db'), 0, ['--secret', SECRET, '--admin', 'ops']))
})
afterAll(async () => {
  const exited = new Promise(r => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
  rmSync(dir, { recursive: true, force: true })
})

const dbs: Database[] = []
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close()
})

/** A user's client; `who` may change (the token function asks it each time). */
async function client(user: string | (() => string), options: { cut?: boolean; storage?: ReturnType<typeof memoryStorage>; seconds?: number } = {}) {
  const who = typeof user === 'string' ? () => user : user
  const token = () => sign(who(), options.seconds)
  const transport = cuttable(httpTransport(url, token))
  const db = await openDatabase({ name: who(), models: [Todo], storage: options.storage ?? memoryStorage(), sync: { url, token, transport, pollInterval: 3_600_000 } })
  dbs.push(db)
  return { db, transport }
}

/** The titles of a user's todos, leaving out the public realm (which other tests write). */
const titles = async (db: Database) => (await db.query(Todo).orderBy('title').fetch()).filter(t => t.realmId !== 'public').map(t => t.title)
const shareRealm = async (db: Database, id: string, members: Record<string, Array<'read' | 'write' | 'admin'>>) => {
  await db.run(tx => {
    tx.create(Realm, { id, name: id })
    for (const [userId, roles] of Object.entries(members)) tx.create(Member, { realmId: id, userId, roles })
  })
  await db.sync!.syncNow()
}

describe('realms, members and roles (CLI server, several clients)', () => {
  it('keeps documents private by default', async () => {
    const { db: ann } = await client('p-ann')
    const { db: bob } = await client('p-bob')
    expect(ann.userId).toBe('p-ann')
    const id = await ann.run(tx => tx.create(Todo, { title: 'mine' }).id)
    expect((await ann.run(tx => tx.get(Todo, id)))!.realmId).toBe('p-ann')
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual([])
    // nor may bob write into ann's private realm
    await bob.run(tx => void tx.create(Todo, { title: 'intruder', realmId: 'p-ann' }))
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual([])
    expect((await bob.rejections()).map(r => r.reason)).toEqual(['permission-denied'])
    await ann.sync!.syncNow()
    expect(await titles(ann)).toEqual(['mine'])
  })

  it('shares read-only: the reader sees the documents live, and its write is rejected and rolled back', async () => {
    const { db: ann } = await client('r-ann')
    const { db: bob } = await client('r-bob')
    await shareRealm(ann, 'groceries', { 'r-bob': ['read'] })
    await ann.run(tx => void tx.create(Todo, { id: 'eggs', title: 'eggs', realmId: 'groceries' }))
    const seen: string[][] = []
    const stop = bob.query(Todo).orderBy('title').subscribe(s => seen.push(s.docs.map(d => d.title)))
    await ann.sync!.syncNow()
    await until('bob sees the shared list', () => seen.at(-1)?.join() === 'eggs')
    await ann.run(tx => void tx.create(Todo, { id: 'tea', title: 'tea', realmId: 'groceries' }))
    await ann.sync!.syncNow()
    // by the poke: bob never asked
    await until('bob sees a new item live', () => seen.at(-1)?.join() === 'eggs,tea')
    // the realm's members are readable to its members
    expect((await bob.query(Member).fetch()).map(m => `${m.userId}:${m.roles.join('+')}`).sort()).toEqual(['r-ann:admin', 'r-bob:read'])
    await bob.run(async tx => void ((await tx.get(Todo, 'eggs'))!.title = 'EGGS'))
    expect(await titles(bob)).toEqual(['EGGS', 'tea'])
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual(['eggs', 'tea'])
    expect((await bob.rejections()).map(r => r.reason)).toEqual(['permission-denied'])
    stop()
  })

  it('grants write: the member changes the documents, and everyone sees it', async () => {
    const { db: ann } = await client('w-ann')
    const { db: bob } = await client('w-bob')
    await shareRealm(ann, 'chores', { 'w-bob': ['read'] })
    await ann.run(tx => void tx.create(Todo, { id: 'dishes', title: 'dishes', realmId: 'chores' }))
    await ann.run(async tx => void ((await tx.get(Member, { realmId: 'chores', userId: 'w-bob' }))!.roles = ['write']))
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    await bob.run(async tx => {
      ;(await tx.get(Todo, 'dishes'))!.done = true
      tx.create(Todo, { id: 'laundry', title: 'laundry', realmId: 'chores' })
    })
    await bob.sync!.syncNow()
    expect(await bob.rejections()).toEqual([])
    await ann.sync!.syncNow()
    expect((await ann.query(Todo).orderBy('title').fetch()).map(t => `${t.title}:${t.done}`)).toEqual(['dishes:true', 'laundry:false'])
    // a writer is not an admin: bob cannot add members
    await bob.run(tx => void tx.create(Member, { realmId: 'chores', userId: 'w-cy', roles: ['read'] }))
    await bob.sync!.syncNow()
    expect((await bob.rejections()).map(r => r.reason)).toEqual(['permission-denied'])
  })

  it('revokes: the documents are evicted, the live query sees them removed, and a pending write on them becomes a rejection', async () => {
    const { db: ann } = await client('v-ann')
    const { db: bob, transport } = await client('v-bob')
    await shareRealm(ann, 'project', { 'v-bob': ['write'] })
    await ann.run(tx => {
      tx.create(Todo, { id: 'plan', title: 'plan', realmId: 'project' })
      tx.create(Todo, { id: 'ship', title: 'ship', realmId: 'project' })
    })
    await ann.sync!.syncNow()
    const snaps: Array<Snapshot<typeof Todo>> = []
    const stop = bob.query(Todo).subscribe(s => snaps.push(s))
    await bob.sync!.syncNow()
    await until('bob has the project', () => snaps.at(-1)?.docs.length === 2)
    transport.online = false
    await bob.run(async tx => void ((await tx.get(Todo, 'plan'))!.title = 'plan B'))
    await ann.run(tx => tx.delete(Member.key({ realmId: 'project', userId: 'v-bob' })))
    await ann.sync!.syncNow()
    transport.online = true
    await bob.sync!.syncNow()
    await until('bob lost the project', () => snaps.at(-1)?.docs.length === 0)
    expect(snaps.at(-1)!.changes.map(c => c.type).sort()).toEqual(['removed', 'removed'])
    expect(await bob.pendingMutations()).toEqual([])
    const [rejection] = await bob.rejections()
    expect(rejection).toMatchObject({ reason: 'permission-denied', collections: ['Todo'] })
    expect(await bob.query(Member).fetch()).toEqual([])
    stop()
  })

  it('moves a document into a shared realm and out of it again', async () => {
    const { db: ann } = await client('m-ann')
    const { db: bob } = await client('m-bob')
    await shareRealm(ann, 'desk', { 'm-bob': ['read'] })
    await ann.run(tx => void tx.create(Todo, { id: 'note', title: 'note' }))
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual([])
    await ann.run(async tx => void ((await tx.get(Todo, 'note'))!.realmId = 'desk'))
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual(['note'])
    await ann.run(tx => tx.updateWithoutRead(Todo, { id: 'note', realmId: 'm-ann' }))
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual([])
    // moving needs write in both realms: a reader cannot move a document away
    await ann.run(tx => void tx.create(Todo, { id: 'pin', title: 'pin', realmId: 'desk' }))
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    await bob.run(async tx => void ((await tx.get(Todo, 'pin'))!.realmId = 'm-bob'))
    await bob.sync!.syncNow()
    expect((await bob.rejections()).map(r => r.reason)).toEqual(['permission-denied'])
    expect((await bob.run(tx => tx.get(Todo, 'pin')))!.realmId).toBe('desk')
  })

  it("an offline create refused for another's document of the same id, then moved by the same client: the move lands on theirs, and the replica ends as the server's", async () => {
    const { db: ann } = await client('r-ann')
    const { db: bob, transport } = await client('r-bob')
    await shareRealm(ann, 'shelf', { 'r-bob': ['admin'] })
    await shareRealm(bob, 'bench', {})
    transport.online = false
    await bob.run(tx => void tx.create(Todo, { id: 'twin', title: "bob's" }))
    await bob.run(async tx => void ((await tx.get(Todo, 'twin'))!.realmId = 'bench'))
    await ann.run(tx => void tx.create(Todo, { id: 'twin', title: "ann's", realmId: 'shelf' }))
    await ann.sync!.syncNow()
    transport.online = true
    await bob.sync!.syncNow()
    expect((await bob.rejections()).map(r => r.reason)).toEqual(['already-exists'])
    // the server applied bob's move to ann's document; his acknowledged write is no reason to leave its other fields out
    const twin = (await bob.run(tx => tx.get(Todo, 'twin')))!
    expect({ title: twin.title, realmId: twin.realmId }).toEqual({ title: "ann's", realmId: 'bench' })
  })

  it('a document whose realm is cleared stays in its realm, on the server and in the replica', async () => {
    const { db: ann } = await client('c-ann')
    await shareRealm(ann, 'cleared-desk', {})
    await ann.run(tx => void tx.create(Todo, { id: 'kept', title: 'kept', realmId: 'cleared-desk' }))
    await ann.sync!.syncNow()
    await ann.run(async tx => {
      const todo = (await tx.get(Todo, 'kept'))!
      ;(todo as { realmId: string | undefined }).realmId = undefined
      todo.title = 'still kept'
    })
    await ann.sync!.syncNow()
    expect(await ann.rejections()).toEqual([])
    const kept = (await ann.run(tx => tx.get(Todo, 'kept')))!
    expect({ title: kept.title, realmId: kept.realmId }).toEqual({ title: 'still kept', realmId: 'cleared-desk' })
    const { db: fresh } = await client('c-ann')
    await fresh.sync!.syncNow()
    expect((await fresh.run(tx => tx.get(Todo, 'kept')))!.realmId).toBe('cleared-desk')
  })

  it('reads the public realm for everyone, and writes it only where a server admin granted it', async () => {
    const { db: ann } = await client('pub-ann')
    const { db: bob } = await client('pub-bob')
    const { db: ops } = await client('ops')
    await ann.run(tx => void tx.create(Todo, { id: 'notice-1', title: 'notice', realmId: 'public' }))
    await ann.sync!.syncNow()
    expect((await ann.rejections()).map(r => r.reason)).toEqual(['permission-denied'])
    await ops.run(tx => void tx.create(Member, { realmId: 'public', userId: 'pub-ann', roles: ['write'] }))
    await ops.sync!.syncNow()
    await ann.run(tx => void tx.create(Todo, { id: 'notice-2', title: 'notice', realmId: 'public' }))
    await ann.sync!.syncNow()
    await bob.sync!.syncNow()
    expect((await bob.query(Todo).fetch()).map(t => t.id)).toContain('notice-2')
  })

  it('lets a server admin read and write every realm', async () => {
    const { db: ann } = await client('adm-ann')
    const { db: ops } = await client('ops')
    await ann.run(tx => void tx.create(Todo, { id: 'adm-secret', title: 'secret' }))
    await ann.sync!.syncNow()
    await ops.sync!.syncNow()
    expect((await ops.run(tx => tx.get(Todo, 'adm-secret')))?.realmId).toBe('adm-ann')
    await ops.run(async tx => void ((await tx.get(Todo, 'adm-secret'))!.done = true))
    await ops.sync!.syncNow()
    await ann.sync!.syncNow()
    expect((await ann.run(tx => tx.get(Todo, 'adm-secret')))?.done).toBe(true)
  })

  it("refuses a push or a pull under another user's client id", async () => {
    const { db: ann } = await client('c-ann')
    await ann.run(tx => void tx.create(Todo, { title: 'x' }))
    await ann.sync!.syncNow()
    const bob = await sign('c-bob')
    const post = (path: string, body: object) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bob}` }, body: JSON.stringify(body) })
    const pull = await post('/v1/pull', { type: 'pull', v: PROTOCOL_VERSION, clientId: ann.clientId, since: 0 })
    expect([pull.status, ((await pull.json()) as { error: string }).error]).toEqual([403, 'permission-denied'])
    const push = await post('/v1/push', { type: 'push', v: PROTOCOL_VERSION, clientId: ann.clientId, mutations: [{ seq: 2, id: 'm', ops: [], preconditions: [], schemaVersion: 1 }] })
    expect(push.status).toBe(403)
  })

  it('pokes a document moved through several realms in one push as a pull, not inline, to a reader of a realm it passed through', async () => {
    const { db: ann, transport } = await client('mm-ann')
    await ann.run(tx => {
      for (const r of ['mm-a', 'mm-b', 'mm-c']) tx.create(Realm, { id: r })
      tx.create(Member, { realmId: 'mm-a', userId: 'mm-carol', roles: ['read'] })
      tx.create(Todo, { id: 'mm-x', title: 'secret', realmId: 'mm-c' })
    })
    await ann.sync!.syncNow()
    const pokes: string[] = []
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/socket?token=${await sign('mm-carol')}`)
    ws.on('message', m => pokes.push(String(m)))
    await until('carol is connected', () => pokes.length === 1)
    // three moves, pushed together: c → a → b → c
    transport.online = false
    for (const r of ['mm-a', 'mm-b', 'mm-c']) await ann.run(tx => tx.updateWithoutRead(Todo, { id: 'mm-x', realmId: r }))
    transport.online = true
    await ann.sync!.syncNow()
    await until('carol is poked', () => pokes.length === 2)
    expect(pokes[1]).not.toContain('mm-x')
    expect(JSON.parse(pokes[1]!)).not.toHaveProperty('inline')
    ws.close()
    const { db: carol } = await client('mm-carol')
    await carol.sync!.syncNow()
    expect(await titles(carol)).toEqual([])
  })

  it("pushes nothing as another user when the token function changes users in the middle of a round", async () => {
    const file = join(dir, 'switch.db')
    const offline = await openDatabase({ name: 'switch', models: [Todo], storage: sqliteStorage(file) })
    await offline.run(tx => void tx.create(Todo, { id: 'sw-note', title: 'ann wrote this' }))
    await offline.close()
    // tokens of 20 seconds are renewed on every request: the open, the round's start, then the push
    let calls = 0
    let who = () => (calls++ < 2 ? 'sw-ann' : 'sw-bob')
    const token = () => sign(who(), 20)
    const db = await openDatabase({ name: 'switch', models: [Todo], storage: sqliteStorage(file), sync: { url, token, socket: false, pollInterval: 3_600_000 } })
    dbs.push(db)
    await until('the round failed', () => db.sync!.status.phase === 'error')
    expect(db.sync!.status.lastError).toMatch(/belongs to user "sw-ann", not "sw-bob"/)
    who = () => 'sw-ann'
    await db.sync!.syncNow()
    expect(db.sync!.status, db.sync!.status.lastError).toMatchObject({ phase: 'in-sync', pending: 0 })
    const { db: bob } = await client('sw-bob')
    await bob.sync!.syncNow()
    expect(await titles(bob)).toEqual([])
  })

  it('signing out and discarding waits for a push in flight: what the server applied is not reported as discarded', async () => {
    let release = () => undefined as void
    const gate = new Promise<void>(r => (release = r))
    let pushing = false
    const token = () => sign('gate-ann')
    const inner = httpTransport(url, token)
    const transport: Transport = { ...inner, push: async req => ((pushing = true), await gate, inner.push(req)), pull: req => inner.pull(req), socketUrl: () => inner.socketUrl() }
    const db = await openDatabase({ name: 'gate', models: [Todo], sync: { url, token, transport, socket: false, pollInterval: 3_600_000 } })
    dbs.push(db)
    await db.run(tx => void tx.create(Todo, { id: 'gate-1', title: 'in flight' }))
    await until('the push is in flight', () => pushing)
    const out = db.signOut({ pending: 'discard' })
    release()
    expect(await out).toEqual({ discarded: [] })
    const { db: again } = await client('gate-ann')
    await again.sync!.syncNow()
    expect(await titles(again)).toContain('in flight')
  })

  it('stays up whatever a socket sends, and refuses the reserved user id public', async () => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/socket?token=${await sign('s-ann')}`)
    await new Promise(r => ws.once('open', r))
    for (const text of ['null', '[]', '7', '"auth"', '{"type":"auth"}', '{"type":"auth","token":5}', '{"type":"auth","token":"garbage"}', '{'.repeat(1000)]) ws.send(text)
    await new Promise(r => ws.once('close', r))
    expect(child.exitCode).toBeNull()
    expect((await fetch(`${url}/health`)).status).toBe(200)
    const pull = await fetch(`${url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await sign('public')}` }, body: JSON.stringify({ type: 'pull', v: PROTOCOL_VERSION, clientId: 'x', since: 0 }) })
    expect(pull.status).toBe(401)
  })

  it('renews short-lived tokens mid-session, over HTTP and over the socket', { timeout: 30_000 }, async () => {
    const metric = async (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(await (await fetch(`${url}/metrics`)).text())![1])
    const opened = await metric('tidepool_sockets_opened_total')
    const renewed = await metric('tidepool_sockets_renewed_total')
    // tokens of three seconds: the socket renews its token before each expires, so it never has to reopen
    const { db } = await client('t-ann', { seconds: 3 })
    await until('the socket renewed its token twice', async () => (await metric('tidepool_sockets_renewed_total')) >= renewed + 2, 20_000)
    expect(await metric('tidepool_sockets_opened_total')).toBe(opened + 1)
    await db.run(tx => void tx.create(Todo, { title: 'later' }))
    await db.sync!.syncNow()
    expect(db.sync!.status).toMatchObject({ phase: 'in-sync', pending: 0 })
  })

  it("signs out, pushing first or discarding, and the next user starts from nothing", async () => {
    let who = 's-ann'
    const { db, transport } = await client(() => who)
    await db.run(tx => void tx.create(Todo, { id: 's-1', title: 'pushed' }))
    transport.online = false
    await expect(db.signOut()).rejects.toBeInstanceOf(OfflineError)
    expect(await titles(db)).toEqual(['pushed'])
    transport.online = true
    expect(await db.signOut({ pending: 'push' })).toEqual({ discarded: [] })
    expect(db.userId).toBeUndefined()
    expect(await titles(db)).toEqual([])
    who = 's-bob'
    await db.sync!.syncNow()
    expect(db.userId).toBe('s-bob')
    expect(await titles(db)).toEqual([])
    transport.online = false
    await db.run(tx => void tx.create(Todo, { id: 's-2', title: 'dropped' }))
    const { discarded } = await db.signOut({ pending: 'discard' })
    expect(discarded.map(m => m.ops[0]!.id)).toEqual(['s-2'])
    expect(await db.pendingMutations()).toEqual([])
    transport.online = true
    who = 's-ann'
    await db.sync!.syncNow()
    expect(await titles(db)).toEqual(['pushed'])
  })

  it("refuses to open a replica with another user's token until it is signed out", async () => {
    const file = join(dir, 'owned.db')
    const first = await client('o-dan', { storage: sqliteStorage(file) })
    await first.db.run(tx => void tx.create(Todo, { title: 'dan' }))
    await first.db.close()
    await expect(client('o-eve', { storage: sqliteStorage(file) })).rejects.toBeInstanceOf(WrongUserError)
    const again = await client('o-dan', { storage: sqliteStorage(file) })
    await again.db.signOut({ pending: 'push' })
    await again.db.close()
    const eve = await client('o-eve', { storage: sqliteStorage(file) })
    await eve.db.sync!.syncNow()
    expect(eve.db.userId).toBe('o-eve')
    expect(await titles(eve.db)).toEqual([])
  })
})
