import type { DocumentChange, Eviction, MutationResult } from '../core/changes.js'
import type { Mutation } from '../core/mutation.js'

export type { DocumentChange, Eviction, MutationResult, RejectionReason } from '../core/changes.js'

/**
 * The wire protocol between a replica and a Tidepool server. Every message
 * carries its `type` and the protocol version `v`; servers validate each one
 * (structure and size) before looking inside.
 */
export const PROTOCOL_VERSION = 1
/** Largest request body a server accepts, in bytes. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024
/** Most mutations in one push. */
export const MAX_PUSH_MUTATIONS = 1000

/** The body of `POST /v1/push`: outbox mutations of one client, in `seq` order. */
export interface PushRequest {
  type: 'push'
  v: typeof PROTOCOL_VERSION
  clientId: string
  mutations: Array<Pick<Mutation, 'seq' | 'id' | 'ops' | 'preconditions' | 'schemaVersion'>>
  /**
   * The revision the client has pulled up to: it holds the outcomes of its
   * mutations up to there, so the server may forget them when it compacts.
   */
  pulled?: number
}

/** The answer to a push: the outcome of each mutation handled, and the revision the server is at. */
export interface PushResponse {
  type: 'push-result'
  v: typeof PROTOCOL_VERSION
  /** Results of the mutations handled, in order (duplicates acknowledged again). */
  results: MutationResult[]
  /** Why the server stopped before the end of the batch, if it did. */
  stopped?: { reason: 'client-diverged' | 'upgrade-required'; message: string; minSchemaVersion?: number }
  revision: number
  /** The user the server took the token for (a replica belongs to one user). */
  user: string
}

/** The body of `POST /v1/pull`: the changes after `since` that the client's user may read. */
export interface PullRequest {
  type: 'pull'
  v: typeof PROTOCOL_VERSION
  clientId: string
  /** The last revision this client has pulled (0: nothing yet). */
  since: number
  /**
   * Where the paged pull this request continues began (its first page's
   * `since`); absent on a first page. A document's row comes on the page of
   * its latest change, so its fields are sent as changed since `base`.
   */
  base?: number
  /**
   * On a later page of a paged pull: the `head` its first page came with.
   * Once the server forgets history past it, a document an earlier page
   * brought may have been deleted unseen, and the answer is `resync`.
   */
  started?: number
  /**
   * Every changed document whole, this client's own writes too: a resync,
   * which must see everything the server holds (its earlier pulls' effects
   * are not trusted).
   */
  whole?: true
}

/** The answer to a pull: one page of changes up to `revision`, and the client's mutation outcomes. */
export interface PullResponse {
  type: 'pull-result'
  v: typeof PROTOCOL_VERSION
  revision: number
  changes: DocumentChange[]
  /** This client's mutations applied or rejected after `since`. */
  results: MutationResult[]
  /** More changes follow `revision`: pull again from it. */
  more?: true
  /** With `more`: the revision the server stood at, which the later pages of this pull send back as `started`. */
  head?: number
  /** On the first page of a pull from nothing that takes more: about how many documents the whole pull brings (for progress). */
  total?: number
  /** The user the server took the token for (a replica belongs to one user). */
  user: string
  /**
   * What the client may no longer read: whole realms it lost (every document
   * in them) and documents that moved out of its realms. The replica removes
   * them, and rejects its pending mutations on them.
   */
  evict?: Eviction
  /**
   * `since` is older than the server's history (compacted): the client
   * pulls again from 0, keeping its outbox, and once the last page is in
   * drops what the server no longer has.
   */
  resync?: true
}

/** Sent over the WebSocket when a commit may interest the client. */
export interface Poke {
  type: 'poke'
  v: typeof PROTOCOL_VERSION
  revision: number
  /**
   * When small: the documents the commits wrote, whole: every change this
   * client's user may read after `base` up to `revision`. A client that has
   * pulled up to `base` or further may apply them instead of pulling; the
   * clients that pushed (`from`) pull, for their acknowledgements.
   */
  inline?: { base: number; from: string[]; changes: DocumentChange[] }
}

/** The body of every refusal (an HTTP error status): a short code in `error` (`unauthenticated`, `too-large`...) and a message for people. */
export interface ErrorResponse {
  type: 'error'
  v: typeof PROTOCOL_VERSION
  error: string
  message: string
}
