import type { JsonObject } from '../core/json.js'
import { withNestedDefaults } from '../core/schema.js'
import { Field, type FieldOwner } from './field.js'
import type { ModelMeta } from './meta.js'

/** Where a model instance keeps its state: a symbol, so no field name can clash with it. */
export const STATE = Symbol('tidepool.state')

export interface DocState {
  meta: ModelMeta
  id: string
  key: JsonObject
  isNew: boolean
  /**
   * New instances: the document to create (validated, owned by the instance).
   * Read instances: the stored document, never changed (fields copy what they hand out).
   */
  doc: JsonObject
  /** Trackers of the fields the app has touched, made on first touch. */
  fields: Record<string, Field>
  owner: FieldOwner
}

export interface Stateful {
  [STATE]: DocState
}

/** The tracker of field `name`, made on first use: most fields of most documents are never touched. */
export function fieldOf(state: DocState, name: string): Field {
  let f = state.fields[name]
  if (f) return f
  const spec = state.meta.fields[name]!
  const stored = state.doc[name]
  if (state.isNew) f = new Field(spec, state.owner, undefined, false, stored, true)
  else if (stored === undefined && spec.schema.hasDefault && !spec.schema.isOptional) f = new Field(spec, state.owner, undefined, true, spec.schema.defaultValue(), false)
  else f = new Field(spec, state.owner, stored, false, spec.nestedDefaults ? withNestedDefaults(spec.schema, stored, false) : stored, false)
  state.fields[name] = f
  return f
}

/** The document as the instance holds it now: the stored or new document with touched fields' current values. */
export function currentDoc(state: DocState): JsonObject {
  let out: JsonObject | undefined
  for (const name in state.fields) {
    const v = state.fields[name]!.peek()
    if (v === state.doc[name]) continue
    out ??= { ...state.doc }
    if (v === undefined) delete out[name]
    else out[name] = v as JsonObject[string]
  }
  return out ?? state.doc
}
