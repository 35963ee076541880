import type { JsonObject } from '../core/json.js'
import type { Field } from './field.js'
import type { ModelMeta } from './meta.js'

/** Where a model instance keeps its state: a symbol, so no field name can clash with it. */
export const STATE = Symbol('tidepool.state')

export interface DocState {
  meta: ModelMeta
  id: string
  key: JsonObject
  isNew: boolean
  fields: Record<string, Field>
}

export interface Stateful {
  [STATE]: DocState
}
