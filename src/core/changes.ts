import type { Json, JsonObject } from './json.js'
import type { Mutation } from './mutation.js'

/** Why a server did not apply a mutation. */
export type RejectionReason = 'condition-failed' | 'already-exists' | 'not-found' | 'permission-denied' | 'invalid' | 'upgrade-required'

/** The outcome of one mutation at the server. */
export type MutationResult =
  | { seq: number; id: string; status: 'applied'; revision: number }
  | { seq: number; id: string; status: 'rejected'; revision: number; reason: RejectionReason; message: string }

/** A change to one document since a revision, as a server reports it. */
export type DocumentChange =
  /** The whole document (created, replaced, or new to this client). */
  | { collection: string; id: string; revision: number; doc: JsonObject }
  /** Some fields (those in `unset`: removed). */
  | { collection: string; id: string; revision: number; set: Record<string, Json>; unset: string[] }
  | { collection: string; id: string; revision: number; deleted: true }

/** What a replica may no longer read: realms, and single documents that left its realms. */
export interface Eviction {
  realms: string[]
  docs: Array<{ collection: string; id: string }>
}

/** What a replica applies from a pull. */
export interface PulledChanges {
  revision: number
  changes: DocumentChange[]
  results: MutationResult[]
  evict?: Eviction
  /** More pages follow this one. */
  more?: true
  /** With `more`: the revision the server stood at, which the later pages send back. */
  head?: number
}

/** A mutation the server refused, kept in the replica until the app acknowledges it. */
export interface Rejection {
  id: string
  mutation: Mutation
  reason: RejectionReason
  message: string
  /** The collections the mutation touched. */
  collections: string[]
  at: number
}
