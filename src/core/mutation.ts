import type { Json, JsonObject } from './json.js'

/** A path into a document: the field name, then keys inside object or map fields. */
export type Path = readonly string[]

interface Target {
  collection: string
  id: string
}

/**
 * One change to one document. Every op but `create` and `put` requires the
 * document to exist (a `delete` of a missing document does nothing), so a
 * write never resurrects a document that was deleted meanwhile.
 */
export type Op =
  | (Target & { type: 'create'; data: JsonObject })
  /** Replaces the fields listed in `fields` (the writer's model) and keeps the others. */
  | (Target & { type: 'put'; data: JsonObject; fields: string[] })
  | (Target & { type: 'set'; path: Path; value: Json })
  | (Target & { type: 'unset'; path: Path })
  | (Target & { type: 'increment'; path: Path; by: number })
  | (Target & { type: 'arrayUnion'; path: Path; values: Json[] })
  | (Target & { type: 'arrayRemove'; path: Path; values: Json[] })
  | (Target & { type: 'delete' })

/**
 * What must hold when a mutation applies, or it applies not at all.
 * `equals` with no `value` means "absent"; `orAbsent` also accepts an absent
 * field (a value the reader got from a default); `ifExists` passes when the
 * document does not exist.
 */
export type Precondition =
  | (Target & { type: 'exists' })
  | (Target & { type: 'missing' })
  | (Target & { type: 'equals'; path: Path; value?: Json; orAbsent?: true; ifExists?: true })

/** One committed transaction: applied atomically, in `seq` order per client. */
export interface Mutation {
  /** Random, so a replica restored from a backup is told apart from the original. */
  id: string
  clientId: string
  seq: number
  ops: Op[]
  preconditions: Precondition[]
  schemaVersion: number
  /** Wall-clock time of the local commit (ms since epoch); informational. */
  time: number
  /** The hybrid logical clock of the commit (core/hlc.ts): the order of serverless merges. */
  hlc?: string
}

/**
 * A mutation as serverless sync logs it, in the replica's event log and in
 * part files: ordered by its clock, with neither preconditions (merge checks
 * none) nor the writer (its folder names it).
 */
export interface LoggedMutation {
  seq: number
  id: string
  /** The hybrid logical clock of the commit (core/hlc.ts). */
  hlc: string
  ops: Op[]
  time: number
}
