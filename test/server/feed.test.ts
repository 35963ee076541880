import { EventEmitter } from 'node:events'
import pg from 'pg'
import type { WebSocket } from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import type { Op } from '../../src/core/mutation.js'
import { PROTOCOL_VERSION, type Poke, type PushRequest } from '../../src/protocol/messages.js'
import { CommitFeed } from '../../src/server/feed.js'
import { push, type PushContext } from '../../src/server/push.js'
import { PokeSockets } from '../../src/server/sockets.js'
import type { CommitChannel, Committed, ServerStore } from '../../src/server/store.js'
import { until } from '../helpers/until.js'
import { POSTGRES_URL, postgresAvailable, storeFactories } from './stores.js'

const annCtx: PushContext = { userId: 'ann', admin: false, minSchemaVersion: 1 }
let seq = 0
const write = (store: ServerStore, id: string) =>
  push(store, { type: 'push', v: PROTOCOL_VERSION, clientId: 'w', mutations: [{ seq: ++seq, id: `m${seq}`, ops: [{ type: 'create', collection: 'Note', id, data: { id } } as Op], preconditions: [], schemaVersion: 1 }] } satisfies PushRequest, annCtx)

/** A sink that records what the feed tells, in order. */
function recorder() {
  const told: Array<{ first: number; last: number; ids: string[] } | { all: number }> = []
  return { told, sink: { poke: (c: Committed) => void told.push({ first: c.first, last: c.last, ids: c.written.map(d => d.id) }), pokeAll: (revision: number) => void told.push({ all: revision }) } }
}

/** A channel the test drives: what a store's LISTEN would hear. */
function fakeChannel(): CommitChannel & { hear(revision: number | undefined): void } {
  let heard: ((r: number | undefined) => void) | undefined
  return {
    state: 'listening',
    listen: async fn => void (heard = fn),
    announce: () => undefined,
    hear: r => heard?.(r),
  }
}

/** The store as a server sharing it with others sees it: with a commit channel. */
const withChannel = (store: ServerStore, channel: CommitChannel): ServerStore => Object.defineProperty(Object.create(store) as ServerStore, 'commits', { value: channel })

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function opened(): Promise<ServerStore> {
  const made = storeFactories[0]!.make()
  await made.store.open()
  cleanups.push(async () => {
    await made.store.close()
    await made.cleanup()
  })
  return made.store
}

describe('the commit feed', () => {
  it('tells commits it did not make by reading them once, in revision order, after a notification or a reconnect', async () => {
    const store = await opened()
    const channel = fakeChannel()
    const { told, sink } = recorder()
    const feed = new CommitFeed(withChannel(store, channel), sink, await store.revision())
    await feed.start(0)
    // written "by another server": nothing tells the feed, until the channel does
    await write(store, 'a')
    await write(store, 'b')
    channel.hear(2)
    await until('the feed read the two commits', () => feed.revision === 2)
    expect(told).toEqual([{ first: 1, last: 2, ids: ['a', 'b'] }])
    // the channel was lost meanwhile: a reconnect reads from the last revision told
    await write(store, 'c')
    channel.hear(undefined)
    await until('the feed caught up', () => feed.revision === 3)
    expect(told.at(-1)).toEqual({ first: 3, last: 3, ids: ['c'] })
    // an own commit that follows one never heard of: what came before it is read first, nothing is told twice
    await write(store, 'd')
    let own: Committed | undefined
    await push(store, { type: 'push', v: PROTOCOL_VERSION, clientId: 'w', mutations: [{ seq: ++seq, id: `m${seq}`, ops: [{ type: 'create', collection: 'Note', id: 'e', data: { id: 'e' } }], preconditions: [], schemaVersion: 1 }] }, annCtx, c => (own = c))
    feed.committed(own!)
    await until('the feed told the own commit', () => feed.revision === 5)
    expect(told.slice(2)).toEqual([{ first: 4, last: 5, ids: ['d', 'e'] }])
    // a notification for what was told already reads nothing
    channel.hear(5)
    await feed.idle()
    expect(told).toHaveLength(3)
  })

  it('tells only the revision when more documents changed than it reads at once', async () => {
    const store = await opened()
    const channel = fakeChannel()
    const { told, sink } = recorder()
    const feed = new CommitFeed(withChannel(store, channel), sink, 0)
    await feed.start(0)
    await push(
      store,
      { type: 'push', v: PROTOCOL_VERSION, clientId: 'big', mutations: [{ seq: 1, id: 'big', ops: Array.from({ length: 2001 }, (_, i) => ({ type: 'create', collection: 'Note', id: `n${i}`, data: { id: `n${i}` } }) as Op), preconditions: [], schemaVersion: 1 }] },
      annCtx,
    )
    channel.hear(1)
    await until('the feed told the revision', () => feed.revision === 1)
    expect(told).toEqual([{ all: 1 }])
  })

  it('on PostgreSQL, hears another store announce, and listens again after its connection is killed', async c => {
    if (!(await postgresAvailable())) return c.skip()
    const made = storeFactories[1]!.make()
    const a = made.store
    const b = made.again()
    await a.open()
    await b.open()
    cleanups.push(async () => {
      await a.close()
      await b.close()
      await made.cleanup()
    })
    const heard: Array<number | undefined> = []
    await b.commits!.listen(r => heard.push(r))
    expect(b.commits!.state).toBe('listening')
    a.commits!.announce(7)
    a.commits!.announce(8)
    await until('b heard the announcement', () => heard.includes(8))
    const admin = new pg.Client({ connectionString: POSTGRES_URL })
    await admin.connect()
    const schema = new URL(made.url.replace('?schema=', '?s=')).searchParams.get('s')
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1', [`LISTEN "tidepool_${schema}"`])
    await admin.end()
    await until('b listens again, and says it may have missed some', () => b.commits!.state === 'listening' && heard.filter(r => r === undefined).length >= 2)
    a.commits!.announce(9)
    await until('b hears again', () => heard.includes(9))
  })
})

class RecordingSocket extends EventEmitter {
  readonly OPEN = 1
  readyState = 1
  bufferedAmount = 0
  readonly sent: Poke[] = []
  readonly raw: string[] = []
  send(message: string): void {
    this.raw.push(message)
    this.sent.push(JSON.parse(message) as Poke)
  }
  close(): void {}
  terminate(): void {}
}

describe('the poke fan-out', () => {
  it("starts each user's inline changes where that user was last told, and gives users who read alike one message", async () => {
    const store = await opened()
    let revision = 0
    const sockets = new PokeSockets(() => Promise.reject(new Error('no upgrades here')), store, new Set(), 1 << 20, () => revision)
    const socket = (userId: string) => {
      const s = new RecordingSocket()
      sockets.attach(s as unknown as WebSocket, { userId })
      return s
    }
    const [ann, bob, cy, dee, eve] = ['ann', 'bob', 'cy', 'dee', 'eve'].map(socket)
    // every user's realms are read (one connection, in order): after this read, theirs are known
    await store.readableRealms('ann')
    const as = (userId: string, id: string, realmId = userId) =>
      push(store, { type: 'push', v: PROTOCOL_VERSION, clientId: `${id}-client`, mutations: [{ seq: 1, id: `${id}-m`, ops: [{ type: 'create', collection: 'Note', id, data: { id, realmId } }], preconditions: [], schemaVersion: 1 }] }, { ...annCtx, userId, admin: realmId === 'public' }, c => {
        revision = c.last
        sockets.poke(c)
      })
    await as('ann', 'a1')
    await as('bob', 'b1')
    await as('ann', 'a2')
    await as('cy', 'p1', 'public')
    const inline = (s: RecordingSocket) => s.sent.slice(1).map(p => [p.revision, p.inline?.base, p.inline?.changes.map(c => c.id)])
    // bob's commit touched nothing ann reads: her second poke continues from her first
    expect(inline(ann!)).toEqual([
      [1, 0, ['a1']],
      [3, 1, ['a2']],
      [4, 3, ['p1']],
    ])
    expect(inline(bob!)).toEqual([
      [2, 0, ['b1']],
      [4, 2, ['p1']],
    ])
    // dee and eve were told nothing before the public write (cy, a server admin here, wrote it): the same bytes go to both
    expect(inline(dee!)).toEqual([[4, 0, ['p1']]])
    expect(eve!.raw.at(-1)).toBe(dee!.raw.at(-1))
    // a poke names only its user's own pushing clients
    expect(ann!.sent.at(-1)!.inline!.from).toEqual([])
    expect(cy!.sent.at(-1)!.inline!.from).toEqual(['p1-client'])
  })
})
