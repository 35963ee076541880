import { docKey } from '../core/key.js'
import type { MutationResult } from '../protocol/messages.js'
import type { ClientRow, ServerDoc, ServerTx, StoreTx } from './store.js'

/** What one push wrote: kept when it completes, dropped when it throws. */
class Layer {
  readonly docs = new Map<string, ServerDoc>()
  readonly clients = new Map<string, ClientRow>()
  readonly results = new Map<string, { clientId: string; result: MutationResult }>()
  /** The last roles each (user, realm) was given, for reads; and every change in order, for the write. */
  readonly roles = new Map<string, readonly string[]>()
  readonly memberships: Array<{ userId: string; realm: string; roles: readonly string[]; revision: number }> = []
  readonly exits: Array<{ collection: string; id: string; realm: string; revision: number }> = []

  keep(into: Layer): void {
    for (const [k, v] of this.docs) into.docs.set(k, v)
    for (const [k, v] of this.clients) into.clients.set(k, v)
    for (const [k, v] of this.results) into.results.set(k, v)
    for (const [k, v] of this.roles) into.roles.set(k, v)
    into.memberships.push(...this.memberships)
    into.exits.push(...this.exits)
  }
}

const pair = (a: string, b: string | number) => `${a}\0${b}`

/**
 * The transaction of a group commit: many pushes in one store transaction.
 * It locks the revision counter first (so what it reads ahead is what every
 * push would have read), reads the documents and clients of the whole batch
 * in a few statements, serves each push's reads from that and from the
 * pushes before it, and writes everything in a few statements at the end.
 * Each push runs in its own layer, dropped if the push throws, so one push's
 * failure never writes anything of it and never touches another's.
 */
export class BatchTx implements ServerTx {
  private readonly docs = new Map<string, ServerDoc | undefined>()
  private readonly clients = new Map<string, ClientRow | undefined>()
  private readonly storedRoles = new Map<string, readonly string[] | undefined>()
  private readonly kept = new Layer()
  private layer: Layer | undefined
  private revision: number

  private constructor(
    private readonly inner: StoreTx,
    /** The revision the database was at when the batch locked it. */
    readonly locked: number,
  ) {
    this.revision = locked
  }

  static async begin(inner: StoreTx, clientIds: readonly string[], keys: ReadonlyArray<{ collection: string; id: string }>): Promise<BatchTx> {
    const tx = new BatchTx(inner, await inner.lockRevision())
    const clients = await inner.getClients([...new Set(clientIds)])
    for (const id of clientIds) tx.clients.set(id, clients.get(id))
    await tx.getDocs(keys)
    return tx
  }

  /** Runs one push in a layer of its own: kept when `fn` resolves, dropped (with the revisions it took) when it throws. */
  async layered<T>(fn: () => Promise<T>): Promise<T> {
    const layer = (this.layer = new Layer())
    const revision = this.revision
    try {
      const out = await fn()
      layer.keep(this.kept)
      return out
    } catch (e) {
      this.revision = revision
      throw e
    } finally {
      this.layer = undefined
    }
  }

  /** Writes what the kept pushes wrote; the revision the batch ends at. */
  async flush(): Promise<number> {
    const { docs, clients, results, memberships, exits } = this.kept
    await this.inner.putDocs([...docs.values()])
    await this.inner.saveClients([...clients.values()])
    await this.inner.saveResults([...results.values()])
    for (const m of memberships) await this.inner.saveMembership(m.userId, m.realm, m.roles, m.revision)
    for (const e of exits) await this.inner.saveExit(e.collection, e.id, e.realm, e.revision)
    if (this.revision !== this.locked) await this.inner.setRevision(this.revision)
    return this.revision
  }

  async nextRevision(): Promise<number> {
    return ++this.revision
  }

  /** The newest value of `key` in the push's layer, the kept pushes, or what was read. */
  private find<V>(pick: (l: Layer) => Map<string, V>, key: string): V | undefined {
    return (this.layer && pick(this.layer).get(key)) ?? pick(this.kept).get(key)
  }

  private get writing(): Layer {
    if (!this.layer) throw new Error('a batch writes only inside a push (layered)')
    return this.layer
  }

  async getClient(clientId: string): Promise<ClientRow | undefined> {
    const written = this.find(l => l.clients, clientId)
    if (written) return written
    if (!this.clients.has(clientId)) this.clients.set(clientId, await this.inner.getClient(clientId))
    return this.clients.get(clientId)
  }

  async saveClient(row: ClientRow): Promise<void> {
    this.writing.clients.set(row.clientId, row)
  }

  async getResult(clientId: string, seq: number): Promise<MutationResult | undefined> {
    return this.find(l => l.results, pair(clientId, seq))?.result ?? this.inner.getResult(clientId, seq)
  }

  async saveResult(clientId: string, result: MutationResult): Promise<void> {
    this.writing.results.set(pair(clientId, result.seq), { clientId, result })
  }

  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Array<ServerDoc | undefined>> {
    const missing = keys.filter(k => !this.docs.has(docKey(k.collection, k.id)))
    if (missing.length) {
      const read = await this.inner.getDocs(missing)
      for (const [i, k] of missing.entries()) this.docs.set(docKey(k.collection, k.id), read[i])
    }
    return keys.map(k => {
      const key = docKey(k.collection, k.id)
      return this.find(l => l.docs, key) ?? this.docs.get(key)
    })
  }

  async putDocs(docs: readonly ServerDoc[]): Promise<void> {
    for (const d of docs) this.writing.docs.set(docKey(d.collection, d.id), d)
  }

  async memberships(userId: string, realms: readonly string[]): Promise<Map<string, string[]>> {
    const unread = realms.filter(r => this.find(l => l.roles, pair(userId, r)) === undefined && !this.storedRoles.has(pair(userId, r)))
    if (unread.length) {
      const read = await this.inner.memberships(userId, unread)
      for (const r of unread) this.storedRoles.set(pair(userId, r), read.get(r))
    }
    const out = new Map<string, string[]>()
    for (const r of realms) {
      const roles = this.find(l => l.roles, pair(userId, r)) ?? this.storedRoles.get(pair(userId, r))
      if (roles) out.set(r, [...roles])
    }
    return out
  }

  async saveMembership(userId: string, realm: string, roles: readonly string[], revision: number): Promise<void> {
    this.writing.roles.set(pair(userId, realm), roles)
    this.writing.memberships.push({ userId, realm, roles, revision })
  }

  async saveExit(collection: string, id: string, realm: string, revision: number): Promise<void> {
    this.writing.exits.push({ collection, id, realm, revision })
  }

  async realmTaken(realm: string): Promise<boolean> {
    // what this batch wrote counts as much as what is stored
    for (const l of this.layer ? [this.layer, this.kept] : [this.kept]) {
      for (const d of l.docs.values()) if (d.realm === realm) return true
      if (l.memberships.some(m => m.realm === realm)) return true
    }
    return this.inner.realmTaken(realm)
  }
}
