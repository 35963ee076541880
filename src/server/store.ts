import type { JsonObject } from '../core/json.js'
import type { MutationResult } from '../protocol/messages.js'

/**
 * The last change of one field of a server document: its revision, the
 * client that wrote it, and whether it overwrote the value (`set`, `put`,
 * `unset`, `delete`) or merged into it (`increment`, array ops). The field
 * `''` stands for the document's existence.
 */
export interface FieldMeta {
  rev: number
  client: string
  kind: 'overwrite' | 'merge'
}

/** A document as the server keeps it: its data (or a tombstone), its realm, and the revision and writer of each field's last change. */
export interface ServerDoc {
  collection: string
  id: string
  /** null: deleted (a tombstone, so pulls learn of the delete). */
  data: JsonObject | null
  /** The realm the document lives in (a tombstone: the realm it was deleted in). */
  realm: string
  /** The revision of the document's last change. */
  revision: number
  /** The last change of each field (`''`: of the document's existence). */
  fields: Record<string, FieldMeta>
}

/** What the server knows of one client: its user, its last applied mutation (for exactly-once pushes) and how far it has pulled. */
export interface ClientRow {
  clientId: string
  /** The user the client id is bound to (the token subject at its first push). */
  userId: string
  lastSeq: number
  lastMutationId: string
  /** The revision the client said it pulled up to: it holds its outcomes to there, which compaction may forget. */
  pulled: number
}

/**
 * What commits wrote, from revision `first` to `last`: the documents as they
 * were left, those that left a realm, the users whose memberships changed,
 * and the clients that pushed, with their users (they pull for their acknowledgements).
 */
export interface Committed {
  first: number
  last: number
  written: ServerDoc[]
  moved: Array<{ collection: string; id: string; from: string }>
  members: string[]
  clients: Array<{ clientId: string; userId: string }>
}

/**
 * One push transaction. The server logic (push.ts) is written once against
 * this, and sql-tx.ts implements it once for every SQL engine.
 */
export interface ServerTx {
  /**
   * Takes the next revision of the database. Called first in every push
   * transaction: the lock it takes on the database's counter serializes pushes,
   * so revision order is commit order and a pull never skips a change.
   */
  nextRevision(): Promise<number>
  /** The client's row (undefined: never seen). */
  getClient(clientId: string): Promise<ClientRow | undefined>
  /** Creates or replaces the client's row. */
  saveClient(row: ClientRow): Promise<void>
  /** The recorded outcome of a client's mutation `seq`, if any. */
  getResult(clientId: string, seq: number): Promise<MutationResult | undefined>
  /** Records the outcome of a client's mutation (`result.seq`), replacing any recorded before. */
  saveResult(clientId: string, result: MutationResult): Promise<void>
  /** The documents, tombstones included, in the order of `keys` (undefined: no such document, nor a tombstone). */
  getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Array<ServerDoc | undefined>>
  /** Creates or replaces the documents. */
  putDocs(docs: readonly ServerDoc[]): Promise<void>
  /** The roles `userId` holds by `Member` documents, in each of `realms` that has one. */
  memberships(userId: string, realms: readonly string[]): Promise<Map<string, string[]>>
  /** Records the roles a `Member` document gives `userId` in `realm` (none: removed) as of `revision`. */
  saveMembership(userId: string, realm: string, roles: readonly string[], revision: number): Promise<void>
  /** Records that a document left `realm` at `revision`, so that its readers evict it. */
  saveExit(collection: string, id: string, realm: string, revision: number): Promise<void>
  /** Whether `realm` holds documents or members, or names a user who has signed in: a realm nobody may claim. */
  realmTaken(realm: string): Promise<boolean>
}

/**
 * A store's own transaction: the push logic's reads and writes, and the bulk
 * forms a group commit (batch-tx.ts) reads ahead and writes behind with.
 */
export interface StoreTx extends ServerTx {
  /** Locks the revision counter (as `nextRevision` does) without taking one; its current value. */
  lockRevision(): Promise<number>
  /** Sets the revision counter, locked by `lockRevision`: a group commit numbers its revisions itself, then stores the last. */
  setRevision(revision: number): Promise<void>
  /** The rows of those clients the server has seen, by client id. */
  getClients(clientIds: readonly string[]): Promise<Map<string, ClientRow>>
  /** Creates or replaces the clients' rows (`saveClient` for many). */
  saveClients(rows: readonly ClientRow[]): Promise<void>
  /** Records mutation outcomes (`saveResult` for many). */
  saveResults(rows: ReadonlyArray<{ clientId: string; result: MutationResult }>): Promise<void>
}

/** Whose pull it is: the user, and whether they read every realm (a server admin). */
export interface Viewer {
  userId: string
  everything: boolean
}

/** What `ServerStore.pull` reads for one pull: the changes the viewer may see, what they lost, and the client's mutation outcomes. */
export interface PullData {
  revision: number
  /** Documents changed after `since` in realms the viewer could already read then, tombstones included. */
  docs: ServerDoc[]
  /** Every document (and tombstones after `since`) of the realms the viewer came to read after `since`: fetched from the start. */
  joined: ServerDoc[]
  /** Documents that moved out of the viewer's realms after `since`, up to `revision`. */
  left: Array<{ collection: string; id: string; revision: number }>
  /** Realms the viewer could read before and can no longer. */
  lost: string[]
  /** The user the client id is bound to (undefined: the client never pushed). */
  owner: string | undefined
  /** The client's mutation outcomes recorded after `since` (up to `revision`). */
  results: MutationResult[]
  /** The revision of the client's first rejected mutation after the pull's start (its first page's `since`), if any. */
  firstRejection?: number | undefined
  /** More changes follow `revision`: pull again from it. */
  more: boolean
  /** On the first page of a pull from nothing that takes more: how many documents (tombstones included) the whole pull brings. */
  total?: number
  /** The revision the store stood at: what a paged pull's later pages name as `started`. */
  head: number
  /** `since` is older than the compaction horizon: what changed since is forgotten, and the client syncs its realms again from the start. */
  resync?: true
}

/** What a compaction forgot. */
export interface Compaction {
  /** The revision history is now kept from (unchanged when nothing was old enough). */
  horizon: number
  tombstones: number
  exits: number
  results: number
  memberships: number
}

/** Cuts rows (in revision order, `limit + 1` or fewer) at a revision boundary. */
export function page<T extends { revision: number }>(rows: T[], limit: number, revision: number): { rows: T[]; revision: number; more: boolean } {
  if (rows.length <= limit) return { rows, revision, more: false }
  const boundary = rows[limit]!.revision
  const cut = rows.filter(r => r.revision < boundary)
  // one commit larger than a page: the caller reads the whole revision
  if (cut.length === 0) return { rows: [], revision: boundary, more: true }
  return { rows: cut, revision: cut[cut.length - 1]!.revision, more: true }
}

/**
 * Where a server keeps its data: an embedded SQLite file or PostgreSQL.
 * `transaction` is atomic (all or nothing, durable when it resolves) and
 * runs `fn` once; `pull` reads one consistent snapshot.
 */
export interface ServerStore {
  readonly kind: 'sqlite' | 'postgres'
  /** Creates or migrates the schema. */
  open(): Promise<void>
  /** Runs `fn` in one atomic, durable transaction and resolves with what it returns; nothing of it is written if `fn` rejects. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>
  /**
   * What `viewer` may read of the changes after `since`: documents in
   * revision order, at most about `limit` of them (a page ends at a revision
   * boundary: `revision` then is the last revision included, and `more` is
   * true, so no commit is split), whole realms the viewer joined, and what
   * left the viewer's realms. `start` is where a paged pull began (default
   * `since`), and `started` the `head` the first page of a pull from 0 was
   * answered at. The answer is `resync` when `start` is before the
   * compaction horizon (0 excepted: a pull from nothing needs no history),
   * or when `started` and `since` both are (a tombstone after both, of a
   * document an earlier page brought, may be forgotten).
   */
  pull(clientId: string, since: number, limit: number, viewer: Viewer, start?: number, started?: number): Promise<PullData>
  /**
   * The realms `userId` reads besides the public one: their private realm
   * (unless a `Realm` document took its id before they came) and those their
   * `Member` documents give them.
   */
  readableRealms(userId: string): Promise<string[]>
  /** Records that `userId` has signed in, so that no `Realm` takes their id. */
  noteUser(userId: string): Promise<void>
  /** The revision the database is at: that of the last commit (0: none yet). */
  revision(): Promise<number>
  /**
   * What the commits after revision `after` wrote, up to the revision the
   * store is at, read in one snapshot; `committed` is left out when more
   * than `limit` documents changed (then only the revision is known).
   */
  committedSince(after: number, limit: number): Promise<{ revision: number; committed?: Committed }>
  /**
   * Forgets what only clients further behind than `keepMs` would need:
   * tombstones, exits, mutation outcomes and ended memberships up to the
   * newest revision reached that long ago. A client pulling from before it
   * is told to sync again from the start (`resync`). `onProgress` hears
   * each kind of row as it is counted (`done` 0) and forgotten.
   */
  compact(keepMs: number, onProgress?: (step: { phase: string; done: number; total: number }) => void): Promise<Compaction>
  /** Other servers' commits on the same database, where several processes share it (PostgreSQL). */
  readonly commits?: CommitChannel
  /** Closes the store's connections to the database. */
  close(): Promise<void>
}

/**
 * How the servers sharing one database tell each other of commits: each
 * announces the revisions it commits, and hears everyone's. `undefined`
 * means the channel was lost and is back: commits may have gone unheard, so
 * the listener catches up from what it last saw.
 */
export interface CommitChannel {
  /** Starts hearing commits: `heard` gets each revision announced (`undefined` once a lost channel is back); resolves once listening. */
  listen(heard: (revision: number | undefined) => void): Promise<void>
  /** Says that the database reached `revision`; coalesced, so a burst of commits costs a few notifications. */
  announce(revision: number): void
  /** `listening`, `reconnecting` (commits are not heard until it is back), or `closed`. */
  readonly state: 'listening' | 'reconnecting' | 'closed'
}

/** The schema version of the server's own tables; migrations run up to it at open. */
export const SERVER_SCHEMA_VERSION = 5
