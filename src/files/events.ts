import { eventKey } from '../core/hlc.js'
import type { Mutation } from '../core/mutation.js'

/** The storage areas serverless sync keeps in the replica. */
export const AREAS = {
  /** Every document's ops from every client, keyed by document then event order. */
  events: 'events',
  /** Bookkeeping: what was merged of each client, what was uploaded where, this client's own log. */
  files: 'files',
} as const

/**
 * The events area holds each document's ops from every client under
 * `{length of the document key}:{document key}{event key}`: one document's
 * events are one key range, in event order. (The length makes the prefix
 * unambiguous: document keys may contain anything.)
 */
export function eventPrefix(key: string): string {
  return `${key.length.toString(36).padStart(4, '0')}:${key}`
}

export function eventRecordKey(key: string, event: string): string {
  return eventPrefix(key) + event
}

/** The event key of a local mutation, which carries its clock from the commit. */
export function localEventKey(m: Mutation): string {
  return eventKey(m.hlc ?? '', m.clientId, m.seq)
}

/** Bookkeeping keys in the files area. */
export const FILES = {
  received: (clientId: string) => `received/${clientId}`,
  receivedPrefix: 'received/',
  own: (seq: number) => `own/${String(seq).padStart(16, '0')}`,
  ownPrefix: 'own/',
  state: (key: string) => `state/${key}`,
}
