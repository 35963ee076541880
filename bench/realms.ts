import Sqlite from 'better-sqlite3'
import { SignJWT } from 'jose'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { Member, memoryStorage, model, openDatabase, Realm, S, type Database } from '../dist/index.js'
import { createServer, sqliteServerStore, type TidepoolServer } from '../dist/server.js'
import { encodeFields } from '../dist/server/field-meta.js'
import { percentile, type Row } from './table.js'

class Doc extends model({ collection: 'Doc', fields: { title: S.str, n: S.int, done: S.bool } }) {}

const SECRET = 'bench-secret'
const sign = (sub: string) =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(SECRET))

const client = (server: TidepoolServer, user: string, socket = false): Promise<Database> =>
  openDatabase({ name: user, models: [Doc], storage: memoryStorage(), sync: { url: server.url, token: () => sign(user), socket, pollInterval: 3_600_000 } })

/**
 * A server file holding `mine` documents of the user `me` and `others`
 * documents spread over `users` other users, written straight into the
 * server's tables (what a long-lived server would hold), `me`'s documents
 * interleaved with the others' revisions.
 */
async function serverFile(file: string, mine: number, others: number, users: number): Promise<void> {
  const store = sqliteServerStore(file)
  await store.open()
  await store.close()
  const db = new Sqlite(file)
  const insert = db.prepare('INSERT INTO tp_docs (collection, id, data, revision, fields, realm) VALUES (?, ?, ?, ?, ?, ?)')
  const total = mine + others
  const every = others ? Math.floor(total / mine) : 1
  db.transaction(() => {
    let m = 0
    let o = 0
    for (let rev = 1; rev <= total; rev++) {
      const isMine = m < mine && (rev % every === 0 || total - rev < mine - m)
      const realm = isMine ? 'me' : `user-${o % users}`
      const id = isMine ? `me-${m++}` : `o-${o++}`
      const data = JSON.stringify({ id, title: `document ${id}`, n: rev, done: rev % 2 === 0, realmId: realm })
      insert.run('Doc', id, data, rev, encodeFields({ '': { rev, client: 'loader', kind: 'overwrite' } }), realm)
    }
    db.prepare('UPDATE tp_revision SET value = ?').run(total)
  })()
  db.close()
}

/** Seconds for a fresh replica of `me` to pull its documents, best of three. */
async function initialSync(file: string, expected: number): Promise<number> {
  const server = await createServer({ storage: file, port: 0, auth: { secret: SECRET } })
  try {
    const times: number[] = []
    for (let run = 0; run < 3; run++) {
      const db = await client(server, 'me')
      const start = performance.now()
      await db.sync!.syncNow()
      times.push((performance.now() - start) / 1000)
      const count = await db.query(Doc).count()
      await db.close()
      if (count !== expected) throw new Error(`initial sync got ${count} of ${expected} documents`)
    }
    return Math.min(...times)
  } finally {
    await server.close()
  }
}

/** Mutations per second that `writer` pushes into `realm`, one document each. */
async function ingest(server: TidepoolServer, writer: string, realm: string, mutations: number): Promise<number> {
  const db = await client(server, writer)
  const start = performance.now()
  const tag = Math.random().toString(36).slice(2, 8)
  for (let i = 0; i < mutations; i++) await db.run(tx => void tx.create(Doc, { id: `${writer}-${tag}-${i}`, title: 'x', n: i, done: false, realmId: realm }))
  await db.sync!.syncNow()
  const seconds = (performance.now() - start) / 1000
  const { phase, pending, lastError } = db.sync!.status
  await db.close()
  if (phase !== 'in-sync' || pending) throw new Error(`ingest did not sync: ${phase}, ${pending} pending, ${lastError}`)
  return mutations / seconds
}

/**
 * 1,000 sockets: 990 of users who read nothing of the realm, 10 members of
 * it. A write to the realm: how long until a member's live callback sees it,
 * and how many pokes reached the others.
 */
async function fanOut(server: TidepoolServer): Promise<{ p50: number; strayPokes: number }> {
  const owner = await client(server, 'owner', true)
  const members = await Promise.all(Array.from({ length: 10 }, (_, i) => client(server, `member-${i}`, true)))
  await owner.run(tx => {
    tx.create(Realm, { id: 'ten', name: 'ten' })
    for (let i = 0; i < 10; i++) tx.create(Member, { realmId: 'ten', userId: `member-${i}`, roles: ['read'] })
    tx.create(Doc, { id: 'hot', title: 'hot', n: 0, done: false, realmId: 'ten' })
  })
  await owner.sync!.syncNow()
  for (const m of members) await m.sync!.syncNow()
  const socketUrl = server.url.replace('http', 'ws') + '/v1/socket?token='
  let strayPokes = 0
  const strangers = await Promise.all(
    Array.from({ length: 990 }, async (_, i) => {
      const ws = new WebSocket(socketUrl + (await sign(`stranger-${i}`)))
      let hello = true
      ws.on('message', () => (hello ? (hello = false) : strayPokes++))
      await new Promise(r => ws.once('open', r))
      return ws
    }),
  )
  const seen: Array<(n: number) => void> = []
  members.forEach((m, i) => m.watch(Doc, 'hot', d => d && seen[i]?.(d.n)))
  await new Promise(r => setTimeout(r, 300))
  const lat: number[] = []
  for (let k = 1; k <= 100; k++) {
    const all = members.map((_, i) => new Promise<void>(r => (seen[i] = n => n === k && r())))
    const t = performance.now()
    await owner.run(tx => tx.updateWithoutRead(Doc, { id: 'hot', n: k }))
    await all[0]
    lat.push(performance.now() - t)
    await Promise.all(all)
  }
  for (const ws of strangers) ws.close()
  for (const db of [owner, ...members]) await db.close()
  return { p50: percentile(lat.sort((a, b) => a - b), 0.5), strayPokes }
}

export interface RealmBench {
  rows: Row[]
  fanOut: { p50: number; strayPokes: number }
}

export async function realmBench(): Promise<RealmBench> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-realms-'))
  try {
    const small = join(dir, 'small.db')
    const large = join(dir, 'large.db')
    await serverFile(small, 1000, 0, 1)
    await serverFile(large, 1000, 1_000_000, 1000)
    // each against a server of its own, alternately, the best of each
    let alone = Infinity
    let crowded = Infinity
    for (let run = 0; run < 2; run++) {
      crowded = Math.min(crowded, await initialSync(large, 1000))
      alone = Math.min(alone, await initialSync(small, 1000))
    }

    const server = await createServer({ storage: join(dir, 'ingest.db'), port: 0, auth: { secret: SECRET }, admins: ['ops'] })
    try {
      const lead = await client(server, 'lead')
      await lead.run(tx => {
        tx.create(Realm, { id: 'team', name: 'team' })
        tx.create(Member, { realmId: 'team', userId: 'writer', roles: ['write'] })
      })
      await lead.sync!.syncNow()
      await lead.close()
      // interleaved, best of three each: the first runs warm the server up for both
      let checked = 0
      let unchecked = 0
      for (let run = 0; run < 3; run++) {
        unchecked = Math.max(unchecked, await ingest(server, 'ops', 'team', 2000))
        checked = Math.max(checked, await ingest(server, 'writer', 'team', 2000))
      }
      const fan = await fanOut(server)
      return {
        rows: [
          {
            workload: "initial sync of one user's 1,000 docs, server also holding 1,000,000 docs of 1,000 others",
            unit: 'docs/s',
            tidepool: 1000 / crowded,
            baseline: 1000 / alone,
            baselineName: 'server holding only them',
            higherIsBetter: true,
            target: '≥ 0.5×',
          },
          {
            workload: 'push ingest, single-document mutations into a shared realm, checked as a member with write',
            unit: 'mutations/s',
            tidepool: checked,
            baseline: unchecked,
            baselineName: 'a server admin: no realm checks',
            higherIsBetter: true,
            target: '≥ 0.8×',
          },
        ],
        fanOut: fan,
      }
    } finally {
      await server.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
