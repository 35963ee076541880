import { deepEqual, type JsonObject } from '../core/json.js'
import { metaOf } from '../orm/meta.js'
import type { ModelClass } from '../orm/types.js'

/**
 * A validator from the app's models, so the server enforces the same schema
 * as the replicas: the whole document against its model, and read-only
 * fields unchanged. A collection no model declares is refused.
 */
export function modelValidator(models: readonly ModelClass[]): (collection: string, before: JsonObject | undefined, after: JsonObject) => string | undefined {
  const metas = new Map(models.map(m => [metaOf(m).collection, metaOf(m)]))
  return (collection, before, after) => {
    const meta = metas.get(collection)
    if (!meta) return `no model declares the collection ${collection}`
    const issue = meta.checkDoc(after)
    if (issue) return `${issue.path.slice(1).replaceAll('/', '.') || 'document'}: ${issue.reason}`
    if (before) {
      for (const name of meta.fieldNames) {
        if (meta.fields[name]!.schema.isReadOnly && name in before && !deepEqual(before[name], after[name])) return `${name} is read-only`
      }
    }
    return undefined
  }
}
