import { CorruptFileError } from '../core/errors.js'
import type { LoggedMutation } from '../core/mutation.js'
import type { JsonSchema } from '../core/schema.js'
import { compileCheck } from '../core/validate.js'
import { opSchema } from '../protocol/schemas.js'

const checkOp = compileCheck(opSchema as unknown as JsonSchema)

/**
 * The files of serverless sync, as the seed lays them out:
 *
 *   tidepool-{db}/master-index.json                   the database's clients and peers
 *   tidepool-{db}/client-{id}/client-index.json       a client's latest sequence and its parts
 *   tidepool-{db}/client-{id}/part-{firstSeq}.json    that client's mutations, in order
 *
 * A client writes only in its own folder (and the master index); a part
 * closes at about PART_BYTES and only the newest part is ever rewritten.
 * Write order is part → client index → master index, so an index never
 * points at a part that is not there yet.
 */
export const FORMAT = 1
export const PART_BYTES = 500 * 1024

export function dbFolder(db: string): string {
  return `tidepool-${encodeURIComponent(db)}/`
}
export function masterPath(db: string): string {
  return `${dbFolder(db)}master-index.json`
}
export function clientFolder(db: string, clientId: string): string {
  return `${dbFolder(db)}client-${clientId}/`
}
export function clientIndexPath(db: string, clientId: string): string {
  return `${clientFolder(db, clientId)}client-index.json`
}
export function partPath(db: string, clientId: string, first: number): string {
  return `${clientFolder(db, clientId)}part-${String(first).padStart(12, '0')}.json`
}

/** The client ids whose folders a listing shows (found by listing: a lost race on the master index hides nobody). */
export function clientsListed(db: string, paths: string[]): string[] {
  const prefix = dbFolder(db)
  const ids = new Set<string>()
  for (const p of paths) {
    const m = /^client-([^/]+)\/client-index\.json$/.exec(p.slice(prefix.length))
    if (p.startsWith(prefix) && m) ids.add(m[1]!)
  }
  return [...ids].sort()
}

export interface Part {
  format: number
  clientId: string
  first: number
  mutations: LoggedMutation[]
}

export interface ClientIndex {
  format: number
  clientId: string
  label: string
  /** The last sequence number in the parts. */
  latest: number
  updated: string
  parts: Array<{ first: number; last: number; bytes: number }>
  /**
   * What this client had merged of each other client when it wrote this
   * index: a reader that already has those from another store sees them as
   * duplicates (the seed's `lastReceived`).
   */
  lastReceived: Record<string, number>
}

export interface MasterIndex {
  format: number
  db: string
  clients: Record<string, { label: string; latest: number; updated: string }>
  /** Other users' master indexes (their addresses) that this database syncs with. */
  peers: Record<string, { label?: string }>
  latestUpdate?: string
}

function parse(path: string, text: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw new CorruptFileError(path, `not valid JSON (${text.length} bytes; truncated or half-synced?)`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CorruptFileError(path, 'not a JSON object')
  const o = v as Record<string, unknown>
  if (o.format !== FORMAT) throw new CorruptFileError(path, `format ${String(o.format)} is not ${FORMAT} (written by another Tidepool version?)`)
  return o
}

const isInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0

export function parsePart(path: string, text: string): Part {
  const o = parse(path, text)
  if (typeof o.clientId !== 'string' || !isInt(o.first) || !Array.isArray(o.mutations)) throw new CorruptFileError(path, 'not a part file')
  o.mutations.forEach((m: unknown, i) => {
    const x = m as Partial<LoggedMutation> | null
    if (!x || x.seq !== (o.first as number) + i || typeof x.id !== 'string' || typeof x.hlc !== 'string' || !Array.isArray(x.ops)) {
      throw new CorruptFileError(path, `mutation ${i} is malformed or out of sequence`)
    }
    for (const op of x.ops) {
      const issue = checkOp(op)
      if (issue) throw new CorruptFileError(path, `mutation ${x.seq}: an op is malformed (${issue.path || '/'}: ${issue.reason})`)
    }
  })
  return o as unknown as Part
}

export function parseClientIndex(path: string, text: string): ClientIndex {
  const o = parse(path, text)
  if (typeof o.clientId !== 'string' || !isInt(o.latest) || !Array.isArray(o.parts) || typeof o.lastReceived !== 'object' || o.lastReceived === null) {
    throw new CorruptFileError(path, 'not a client index')
  }
  for (const p of o.parts as unknown[]) {
    const x = p as { first?: unknown; last?: unknown }
    if (!isInt(x.first) || !isInt(x.last)) throw new CorruptFileError(path, 'a part entry is malformed')
  }
  return { label: '', updated: '', ...o } as unknown as ClientIndex
}

export function parseMaster(path: string, text: string): MasterIndex {
  const o = parse(path, text)
  if (typeof o.clients !== 'object' || o.clients === null || typeof o.peers !== 'object' || o.peers === null) throw new CorruptFileError(path, 'not a master index')
  return o as unknown as MasterIndex
}

export function serialize(value: Part | ClientIndex | MasterIndex): string {
  return JSON.stringify(value)
}
