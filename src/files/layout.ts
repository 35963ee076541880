import { CorruptFileError } from '../core/errors.js'
import type { LoggedMutation, Op } from '../core/mutation.js'
import { decodeClock } from '../core/hlc.js'
import { docKey } from '../core/key.js'
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
 *   tidepool-{db}/client-{id}/checkpoint-{last}-{n}.json  its mutations up to `last`, compacted
 *   tidepool-{db}/client-{id}/forgotten.json          the client was forgotten as lost
 *
 * A client writes only in its own folder (and the master index); a part
 * closes at about PART_BYTES and only the newest part is ever rewritten.
 * Write order is part → client index → master index, so an index never
 * points at a part that is not there yet.
 *
 * Once every client listed has read past some of a client's parts, it may
 * replace them by a checkpoint: its own events up to there, compacted per
 * document (core/merge.ts `compact`), so that a reader that is further
 * behind (or new) reads the checkpoint instead and still folds to the same
 * documents. Parts and checkpoints that the index no longer names are
 * deleted after it is written.
 */
export const FORMAT = 1
/**
 * The format of checkpoint files and of client indexes that name one: a
 * reader from before checkpoints refuses them with a clear error rather
 * than stop silently where the parts no longer start at 1.
 */
export const CHECKPOINT_FORMAT = 2
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

export function checkpointPath(db: string, clientId: string, last: number, n: number): string {
  return `${clientFolder(db, clientId)}checkpoint-${String(last).padStart(12, '0')}-${String(n).padStart(4, '0')}.json`
}

/**
 * A client forgotten as lost (`tidepool files forget`) has this file in its
 * folder: it no longer holds the others' checkpoints back. A marker of its
 * own rather than an entry in the master index, which a concurrent writer
 * could overwrite; the client deletes it when it syncs again.
 */
export function forgottenPath(db: string, clientId: string): string {
  return `${clientFolder(db, clientId)}forgotten.json`
}

/** The client ids whose folders hold a forgotten marker, found by the same listing. */
export function clientsForgotten(db: string, paths: string[]): Set<string> {
  return new Set(clientsWith(db, paths, 'forgotten.json'))
}

/** The client ids whose folders a listing shows (found by listing: a lost race on the master index hides nobody). */
export function clientsListed(db: string, paths: string[]): string[] {
  return clientsWith(db, paths, 'client-index.json')
}

function clientsWith(db: string, paths: string[], file: string): string[] {
  const prefix = dbFolder(db)
  const ids = new Set<string>()
  for (const p of paths) {
    const [folder, name, more] = p.slice(prefix.length).split('/')
    if (p.startsWith(prefix) && more === undefined && name === file && folder !== undefined && folder.length > 'client-'.length && folder.startsWith('client-')) ids.add(folder.slice('client-'.length))
  }
  return [...ids].sort()
}

export interface Part {
  format: number
  clientId: string
  first: number
  mutations: LoggedMutation[]
}

/** A client's own events up to `last`, compacted per document. */
export interface Checkpoint {
  last: number
  /** The clock of mutation `last`: readers' clocks move past it. */
  hlc: string
  /** Each document's events, in event order: [clock, sequence number, ops]. */
  docs: Array<[string, Array<[string, number, Op[]]>]>
}

/** One file of a checkpoint: its documents are split over files of about a part's size, a document never across two. */
export interface CheckpointFile extends Checkpoint {
  format: number
  clientId: string
  /** How many files the checkpoint has: a reader holding an index from before a rewrite of it notices. */
  of: number
}

export interface ClientIndex {
  format: number
  clientId: string
  label: string
  /** The last sequence number in the parts. */
  latest: number
  updated: string
  parts: Array<{ first: number; last: number; bytes: number }>
  /** Where the parts start after 1: the checkpoint of everything before them, its files' sizes in order. */
  checkpoint?: { last: number; files: number[] }
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
  if (o.format !== FORMAT && o.format !== CHECKPOINT_FORMAT) throw new CorruptFileError(path, `format ${String(o.format)} is not ${FORMAT} or ${CHECKPOINT_FORMAT} (written by a newer Tidepool version?)`)
  return o
}

const isInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0
const isClock = (v: unknown): v is string => typeof v === 'string' && decodeClock(v) !== undefined

export function parsePart(path: string, text: string): Part {
  const o = parse(path, text)
  if (typeof o.clientId !== 'string' || !isInt(o.first) || !Array.isArray(o.mutations)) throw new CorruptFileError(path, 'not a part file')
  o.mutations.forEach((m: unknown, i) => {
    const x = m as Partial<LoggedMutation> | null
    if (!x || x.seq !== (o.first as number) + i || typeof x.id !== 'string' || !isClock(x.hlc) || !Array.isArray(x.ops)) {
      throw new CorruptFileError(path, `mutation ${i} is malformed or out of sequence`)
    }
    for (const op of x.ops) {
      const issue = checkOp(op)
      if (issue) throw new CorruptFileError(path, `mutation ${x.seq}: an op is malformed (${issue.path || '/'}: ${issue.reason})`)
    }
  })
  return o as unknown as Part
}

export function parseCheckpoint(path: string, text: string): CheckpointFile {
  const o = parse(path, text)
  if (typeof o.clientId !== 'string' || !isInt(o.last) || !isInt(o.of) || !isClock(o.hlc) || !Array.isArray(o.docs)) throw new CorruptFileError(path, 'not a checkpoint file')
  for (const d of o.docs as unknown[]) {
    if (!Array.isArray(d) || typeof d[0] !== 'string' || !Array.isArray(d[1])) throw new CorruptFileError(path, 'a document entry is malformed')
    for (const e of d[1] as unknown[]) {
      // a client's own clocks only grow: none of its events is later than the checkpoint's last
      if (!Array.isArray(e) || !isClock(e[0]) || e[0] > (o.hlc as string) || !isInt(e[1]) || (e[1] as number) > (o.last as number) || !Array.isArray(e[2])) {
        throw new CorruptFileError(path, `an event of document ${d[0]} is malformed`)
      }
      for (const op of e[2] as unknown[]) {
        const issue = checkOp(op)
        if (issue) throw new CorruptFileError(path, `an op of document ${d[0]} is malformed (${issue.path || '/'}: ${issue.reason})`)
        // an event is filed under the document its ops write, as a part's ops are
        if (docKey((op as Op).collection, (op as Op).id) !== d[0]) throw new CorruptFileError(path, `an op filed under document ${JSON.stringify(d[0])} writes another one`)
      }
    }
  }
  return o as unknown as CheckpointFile
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
  const cp = o.checkpoint as { last?: unknown; files?: unknown } | undefined
  if (cp !== undefined && (typeof cp !== 'object' || cp === null || !isInt(cp.last) || cp.last > o.latest || !Array.isArray(cp.files) || cp.files.length === 0 || !cp.files.every(isInt))) {
    throw new CorruptFileError(path, 'its checkpoint entry is malformed')
  }
  return { label: '', updated: '', ...o } as unknown as ClientIndex
}

export function parseMaster(path: string, text: string): MasterIndex {
  const o = parse(path, text)
  if (typeof o.clients !== 'object' || o.clients === null || typeof o.peers !== 'object' || o.peers === null) throw new CorruptFileError(path, 'not a master index')
  return o as unknown as MasterIndex
}

export function serialize(value: Part | CheckpointFile | ClientIndex | MasterIndex): string {
  return JSON.stringify(value)
}
