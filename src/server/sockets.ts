import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { PUBLIC_REALM, REALM_COLLECTION } from '../core/realms.js'
import { PROTOCOL_VERSION, type Poke } from '../protocol/messages.js'
import type { Identity } from './auth.js'
import { wholeChange } from './pull.js'
import type { Committed, ServerStore } from './store.js'

/** Pokes carry a push's changes when they are at most this big. */
export const INLINE_POKE_BYTES = 16 * 1024

/** Close codes a client sees: it reconnects (with a fresh token) and pulls what it missed. */
const TOKEN_EXPIRED = 4001

/** What one user's sockets hear: the realms the user reads, their own and by membership (undefined while they are read). */
interface Listener {
  sockets: Set<WebSocket>
  realms: Set<string> | undefined
  /** Bumped on every reload, so an older answer never replaces a newer one. */
  loads: number
  /** The revision up to which this user has been told of everything they read: where the next poke's inline changes start. */
  told: number
}

/** A poke with its changes inline, or undefined when they pass the inline size. */
function inlinePoke(revision: number, base: number, from: string, groups: ReadonlyArray<{ changes: string[]; bytes: number }>): string | undefined {
  let bytes = from.length + 120
  for (const g of groups) bytes += g.bytes
  if (bytes > INLINE_POKE_BYTES) return undefined
  const changes = groups.flatMap(g => g.changes).join(',')
  return `{"type":"poke","v":${PROTOCOL_VERSION},"revision":${revision},"inline":{"base":${base},"from":${from},"changes":[${changes}]}}`
}

/**
 * The poke sockets: one WebSocket per client (the sync leader), opened with
 * a token, renewed by an `auth` message with the next one, and closed when
 * the token expires; closed too when the client reads too slowly for its
 * unsent data to stay under `bufferLimit` bytes, so a stalled consumer costs
 * the server a bounded amount of memory. A client whose socket closes
 * reconnects and pulls, so it loses nothing. A commit pokes only the users
 * who read a realm it touched, and the changes it carries are those each
 * user may read.
 */
export class PokeSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  private readonly open = new Map<WebSocket, { userId: string; expiry: ReturnType<typeof setTimeout> | undefined }>()
  private readonly users = new Map<string, Listener>()
  /** Sockets closed because they read too slowly, since the server started. */
  dropped = 0
  /** Sockets opened, and tokens renewed over open sockets, since the server started. */
  opened = 0
  renewed = 0
  /** Pokes sent with their changes inline, and without (the socket pulls). */
  inlinePokes = 0
  plainPokes = 0

  constructor(
    private readonly authenticate: (token: string | undefined) => Promise<Identity>,
    private readonly store: ServerStore,
    private readonly admins: ReadonlySet<string>,
    private readonly bufferLimit: number,
    /** The revision this server has told its sockets of so far. */
    private readonly revision: () => number,
  ) {}

  get size(): number {
    return this.open.size
  }

  /** Bytes the open sockets have not sent yet: bounded by the buffer limit per socket. */
  get buffered(): number {
    let n = 0
    for (const ws of this.open.keys()) n += ws.bufferedAmount
    return n
  }

  /** Takes an HTTP upgrade to `/v1/socket?token=…`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/v1/socket') return void socket.destroy()
    this.authenticate(url.searchParams.get('token') ?? undefined).then(
      identity => this.wss.handleUpgrade(req, socket, head, ws => this.attach(ws, identity)),
      () => {
        socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
        socket.destroy()
      },
    )
  }

  /** Takes an open socket of an authenticated user: it hears the pokes of what the user reads until it closes. */
  attach(ws: WebSocket, identity: Identity): void {
    if (!this.expireAt(ws, identity)) return
    this.opened++
    const listener = this.listener(identity.userId)
    listener.sockets.add(ws)
    const forget = () => {
      clearTimeout(this.open.get(ws)?.expiry)
      this.open.delete(ws)
      listener.sockets.delete(ws)
      if (listener.sockets.size === 0 && this.users.get(identity.userId) === listener) this.users.delete(identity.userId)
    }
    ws.on('close', forget)
    ws.on('error', forget)
    ws.on('message', data => {
      try {
        this.received(ws, identity.userId, String(data))
      } catch {
        ws.terminate()
      }
    })
    this.send(ws, JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision: this.revision() } satisfies Poke))
  }

  /** Keeps `ws` open until `identity`'s token expires; false when it has already. */
  private expireAt(ws: WebSocket, identity: Identity): boolean {
    clearTimeout(this.open.get(ws)?.expiry)
    const left = identity.expires === undefined ? undefined : identity.expires - Date.now()
    if (left !== undefined && left <= 0) {
      ws.close(TOKEN_EXPIRED, 'token expired')
      return false
    }
    // a timer per socket, for as long as the token lasts (at most a timer's range)
    const expiry = left === undefined ? undefined : setTimeout(() => ws.close(TOKEN_EXPIRED, 'token expired'), Math.min(left, 2 ** 31 - 1))
    this.open.set(ws, { userId: identity.userId, expiry })
    return true
  }

  /** The one message a client sends: `{ type: 'auth', token }`, the next token of the same user before this one expires. */
  private received(ws: WebSocket, userId: string, text: string): void {
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    // anything but an object with a string token is not ours: ignored, never thrown (a throw here would end the process)
    if (typeof message !== 'object' || message === null) return
    const { type, token } = message as { type?: unknown; token?: unknown }
    if (type !== 'auth' || typeof token !== 'string') return
    this.authenticate(token).then(
      identity => {
        if (identity.userId !== userId) ws.close(TOKEN_EXPIRED, 'token of another user')
        else if (this.open.has(ws) && this.expireAt(ws, identity)) this.renewed++
      },
      () => ws.close(TOKEN_EXPIRED, 'token refused'),
    )
  }

  private listener(userId: string): Listener {
    let l = this.users.get(userId)
    if (!l) {
      l = { sockets: new Set(), realms: undefined, loads: 0, told: this.revision() }
      this.users.set(userId, l)
      this.reload(userId, l)
    }
    return l
  }

  private reload(userId: string, l: Listener): void {
    const load = ++l.loads
    l.realms = undefined
    this.store.readableRealms(userId).then(
      realms => {
        if (l.loads === load) l.realms = new Set(realms)
      },
      () => undefined,
    )
  }

  /** Whether `userId` reads `realm`; undefined while their realms are being read. */
  private reads(userId: string, l: Listener, realm: string): boolean | undefined {
    if (this.admins.has(userId) || realm === PUBLIC_REALM) return true
    return l.realms?.has(realm)
  }

  /**
   * Tells the sockets of every user who reads a realm the commits touched
   * (or whose memberships they changed) of the revision, with the changes
   * they may read when those are small and need nothing but applying. The
   * changes are serialized once per commit, and users who read the same
   * share one message.
   */
  poke(c: Committed): void {
    // whose realms the commit changed: members, and a user whose id a new Realm took (it is not their private realm then)
    const members = new Set([...c.members, ...c.written.filter(d => d.collection === REALM_COLLECTION).map(d => d.id)])
    for (const u of members) {
      const l = this.users.get(u)
      if (l) this.reload(u, l)
    }
    // every realm each document left (one commit may move it several times), and each document as the commit left it
    const left = new Map<string, Set<string>>()
    for (const m of c.moved) {
      const k = `${m.collection}\0${m.id}`
      left.set(k, (left.get(k) ?? new Set()).add(m.from))
    }
    // documents grouped by the realm they are in and those they left: every user sees a whole group alike
    const groups = new Map<string, { realm: string; left: string[]; changes: string[]; bytes: number }>()
    for (const d of new Map(c.written.map(d => [`${d.collection}\0${d.id}`, d])).values()) {
      const from = [...(left.get(`${d.collection}\0${d.id}`) ?? [])]
      const key = JSON.stringify([d.realm, ...from])
      let g = groups.get(key)
      if (!g) groups.set(key, (g = { realm: d.realm, left: from, changes: [], bytes: 0 }))
      const change = JSON.stringify(wholeChange(d))
      g.changes.push(change)
      g.bytes += change.length + 1
    }
    const list = [...groups.values()]
    const plain = JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision: c.last } satisfies Poke)
    const messages = new Map<string, string>()
    for (const [userId, l] of this.users) {
      const readable: number[] = []
      let touched = members.has(userId)
      // a document that left this user's realms is an eviction: that takes a pull
      let whole = !touched && l.realms !== undefined
      for (const [i, g] of list.entries()) {
        const reads = this.reads(userId, l, g.realm)
        const readBefore = g.left.map(r => this.reads(userId, l, r))
        if (reads !== false || readBefore.some(r => r !== false)) touched = true
        if (reads === true && readBefore.every(r => r === false)) readable.push(i)
        else if (reads !== false || readBefore.some(r => r !== false)) whole = false
      }
      if (!touched) continue
      // nothing this user reads changed since the last poke they were sent: the changes continue from there
      const base = l.told
      l.told = c.last
      let message = plain
      if (whole) {
        // the pushers named are this user's own clients: nobody learns who else wrote
        const from = JSON.stringify(c.clients.filter(p => p.userId === userId).map(p => p.clientId))
        const key = `${base} ${readable.join(',')} ${from}`
        message = messages.get(key) ?? inlinePoke(c.last, base, from, readable.map(i => list[i]!)) ?? plain
        messages.set(key, message)
      }
      if (message === plain) this.plainPokes += l.sockets.size
      else this.inlinePokes += l.sockets.size
      for (const ws of l.sockets) this.send(ws, message)
    }
  }

  /** Tells every socket of a revision whose changes are not known here (too many to read): they pull. */
  pokeAll(revision: number): void {
    const message = JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision } satisfies Poke)
    for (const [userId, l] of this.users) {
      this.reload(userId, l)
      l.told = revision
      this.plainPokes += l.sockets.size
      for (const ws of l.sockets) this.send(ws, message)
    }
  }

  private send(ws: WebSocket, message: string): void {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount + message.length > this.bufferLimit) {
      this.dropped++
      // terminate, not close: a closing handshake would queue behind the unread data
      ws.terminate()
      return
    }
    ws.send(message)
  }

  close(): void {
    for (const ws of this.open.keys()) ws.close(1001, 'server shutting down')
    this.wss.close()
  }
}
