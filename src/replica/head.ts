import { StorageError } from '../core/errors.js'
import { STORES } from './records.js'
import type { Reader, Writer } from './store.js'

/**
 * The replica's counters and identity in one meta record, so a commit reads
 * and writes it once (in a browser every request to IndexedDB is a round trip
 * to another process).
 */
export interface Head {
  clientId: string
  /** The last outbox sequence number. */
  seq: number
  /** The last changelog entry. */
  changeSeq: number
  /** The newest schema version that opened the replica. */
  schemaVersion: number
  /** The last server revision pulled (0: none). */
  pulledRevision: number
  /** While a paged pull is under way (pages still to come), where it began: the next page continues from it, also after a restart. */
  pullBase?: number
  /** With `pullBase`: the revision the server stood at when the paged pull's first page came, which later pages send back. */
  pullStarted?: number
  /** The replica's hybrid logical clock (encoded), past every event it wrote or merged. */
  hlc?: string
  /** The user the replica belongs to, once known (a server names it, or a token does); cleared by signing out. */
  userId?: string
  /** The server forgot the history since this replica's revision: it pulls everything again from 0, and drops what that did not bring. */
  resync?: true
  /** Who signed out last, until another user (or the same again, asked for) signs in: their cached token signs nobody in. */
  signedOut?: string
}

const HEAD = 'head'
/** Replicas written before the head record kept each field under its own key. */
const LEGACY = ['clientId', 'seq', 'changeSeq', 'schemaVersion', 'pulledRevision'] as const

export async function readHead(r: Reader): Promise<Head> {
  const head = (await r.get(STORES.meta, HEAD)) as Head | undefined
  if (!head) throw new StorageError('unavailable', 'the replica has no head record (not opened?)')
  return head
}

export function writeHead(w: Writer, head: Head): void {
  w.put(STORES.meta, HEAD, head)
}

/** The head, made (or gathered from a replica written before it existed) where missing. */
export async function ensureHead(w: Writer, newClientId: () => string): Promise<Head> {
  const head = (await w.get(STORES.meta, HEAD)) as Head | undefined
  if (head) return head
  const [clientId, seq, changeSeq, schemaVersion, pulledRevision] = (await w.getMany(STORES.meta, LEGACY)) as [string | undefined, number | undefined, number | undefined, number | undefined, number | undefined]
  for (const k of LEGACY) w.delete(STORES.meta, k)
  const made: Head = { clientId: clientId ?? newClientId(), seq: seq ?? 0, changeSeq: changeSeq ?? 0, schemaVersion: schemaVersion ?? 0, pulledRevision: pulledRevision ?? 0 }
  writeHead(w, made)
  return made
}
