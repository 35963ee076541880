import { docVersion, isBookkeeping, OLDER_WRITE_FIELD, storedOf, VERSION_FIELD } from '../core/doc-versions.js'
import type { Json, JsonObject } from '../core/json.js'
import { deepEqual, isPlainObject } from '../core/json.js'
import type { Op, Path, Precondition } from '../core/mutation.js'
import type { Field } from './field.js'
import type { ModelMeta } from './meta.js'
import type { Model } from './model.js'
import { currentDoc, STATE } from './state.js'

export type Kind = 'read' | 'create' | 'overwrite' | 'update' | 'delete'

/** One document the transaction touched. */
export interface Entry {
  meta: ModelMeta
  id: string
  kind: Kind
  model?: Model
  /** The entry began as a read: what it saw is a precondition (when tracked). */
  read: boolean
  /** What the read saw. */
  existed: boolean
  track: boolean
  /** The read in flight that will fill this entry. */
  loading?: Promise<unknown>
  expected?: JsonObject
  update?: JsonObject
  /** A create and a delete of the same document in this transaction cancel out. */
  cancelled?: boolean
  /** The document exists but this version cannot read it: why. */
  aside?: string
}

export function changedFields(model: Model): Field[] {
  const out: Field[] = []
  for (const f of Object.values(model[STATE].fields)) if (f.changed) out.push(f)
  return out
}

/** Appends the ops and preconditions of one entry; `version` is the app's schema version. */
export function collect(e: Entry, ops: Op[], pcs: Precondition[], version: number): void {
  const collection = e.meta.collection
  const id = e.id
  const target = { collection, id }
  const state = e.model?.[STATE]
  // read as something other than what is stored: conditions and writes refer to what is stored
  const stored = state && !e.cancelled && e.existed ? storedOf(state.doc) : undefined
  // read through migrations (or checked, as an older app's write): its values may come from any stored field
  const migrated = stored !== undefined && stored !== state!.doc && (docVersion(stored) !== version || stored[OLDER_WRITE_FIELD] !== undefined)
  const changed = e.kind === 'read' && e.model ? changedFields(e.model) : []
  if (e.read && e.track) {
    if (!e.existed) pcs.push({ type: 'missing', ...target })
    else {
      pcs.push({ type: 'exists', ...target })
      const accessed = Object.values(state?.fields ?? {}).filter(f => f.accessed)
      // a migrated document is written back whole: all of what is stored must hold, whatever was read
      if (migrated && (accessed.length || changed.length)) storedUnchanged(target, e.meta, stored, pcs)
      else
        for (const f of accessed) {
          const was = stored?.[f.name]
          if (f.fromDefault) pcs.push({ type: 'equals', ...target, path: [f.name], value: f.spec.schema.defaultValue() as Json, orAbsent: true })
          else if (was === undefined) pcs.push({ type: 'equals', ...target, path: [f.name] })
          else pcs.push({ type: 'equals', ...target, path: [f.name], value: was })
        }
    }
  }
  switch (e.kind) {
    case 'read': {
      if (!e.model) return
      // what is written is checked (an object changed in place included), never what was only read
      for (const f of changed) if (f.spec.composite) f.validate()
      if (migrated && changed.length) return rewrite(target, e.meta, stored, currentDoc(state!), version, ops)
      // a field filled with its default was read as absent: what is written is measured against what is stored
      for (const f of changed) {
        if (!f.written && f.increment !== 0 && stored?.[f.name] !== undefined) ops.push({ type: 'increment', ...target, path: [f.name], by: f.increment })
        else diff(target, [f.name], stored?.[f.name], f.peek() as Json | undefined, ops)
      }
      return
    }
    case 'create':
      ops.push({ type: 'create', ...target, data: dataOf(e.model!) })
      return
    case 'overwrite':
      // the whole document is written in this version's form: it says so
      ops.push({ type: 'put', ...target, data: dataOf(e.model!), fields: [...e.meta.allNames, VERSION_FIELD] })
      for (const [name, value] of Object.entries(e.expected ?? {})) {
        pcs.push({ type: 'equals', ...target, path: [name], ...(value === undefined ? {} : { value }), ifExists: true })
      }
      return
    case 'update':
      // a blind write cannot migrate what it does not read: it needs the document in this version's form
      if (e.meta.migrations.length && version > 1) pcs.push({ type: 'equals', ...target, path: [VERSION_FIELD], value: version })
      for (const [name, value] of Object.entries(e.update!)) {
        ops.push(value === undefined ? { type: 'unset', ...target, path: [name] } : { type: 'set', ...target, path: [name], value })
      }
      return
    case 'delete':
      if (!e.cancelled) ops.push({ type: 'delete', ...target })
      return
  }
}

/** Preconditions that the stored document is as read: each of its fields, and its version. */
function storedUnchanged(target: { collection: string; id: string }, meta: ModelMeta, stored: JsonObject, pcs: Precondition[]): void {
  for (const [name, value] of Object.entries(stored)) if (!meta.keyChecks[name]) pcs.push({ type: 'equals', ...target, path: [name], value })
  for (const name of [VERSION_FIELD, OLDER_WRITE_FIELD]) if (!(name in stored)) pcs.push({ type: 'equals', ...target, path: [name] })
}

/**
 * Writes a document that was read as something other than what is stored:
 * the stored fields become what the app now holds (a migrated document is
 * written back in its new form), fields unknown to this version are kept,
 * and an older document is stamped with this version.
 */
function rewrite(target: { collection: string; id: string }, meta: ModelMeta, stored: JsonObject, current: JsonObject, version: number, ops: Op[]): void {
  for (const name of new Set([...Object.keys(stored), ...Object.keys(current)])) {
    if (meta.keyChecks[name] || isBookkeeping(name)) continue
    diff(target, [name], stored[name], current[name], ops)
  }
  const from = docVersion(stored)
  if (from < version) ops.push({ type: 'set', ...target, path: [VERSION_FIELD], value: version })
  // an older app keeps the document's version (its newer fields are there) and says it wrote it; the version's own apps vouch for it again
  if (from > version) ops.push({ type: 'set', ...target, path: [OLDER_WRITE_FIELD], value: version })
  else if (stored[OLDER_WRITE_FIELD] !== undefined) ops.push({ type: 'unset', ...target, path: [OLDER_WRITE_FIELD] })
}

/** The document a new instance writes; composite fields the app touched are checked again (they may have changed by reference). */
function dataOf(model: Model): JsonObject {
  const s = model[STATE]
  for (const name in s.fields) {
    const f = s.fields[name]!
    if (f.spec.composite && f.accessed) f.validate()
  }
  return currentDoc(s)
}

/** The smallest sets and unsets that turn `before` into `after`: objects are compared key by key, anything else whole. */
function diff(target: { collection: string; id: string }, path: Path, before: Json | undefined, after: Json | undefined, ops: Op[]): void {
  if (deepEqual(before, after)) return
  if (after === undefined) {
    ops.push({ type: 'unset', ...target, path })
  } else if (isPlainObject(before) && isPlainObject(after)) {
    for (const k of Object.keys(after)) diff(target, [...path, k], before[k], after[k], ops)
    for (const k of Object.keys(before)) if (!(k in after) || after[k] === undefined) ops.push({ type: 'unset', ...target, path: [...path, k] })
  } else {
    ops.push({ type: 'set', ...target, path, value: after })
  }
}


