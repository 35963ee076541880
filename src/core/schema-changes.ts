import { deepEqual, type Json } from './json.js'
import type { JsonSchema } from './schema.js'

/** A change between two schemas that documents valid under the old one may not survive. */
export interface BreakingChange {
  /** The field (dotted path; `[]` marks array items, `{}` map values). */
  field: string
  change: string
}

/**
 * What a documents' schema change breaks: comparing the JSON Schema that
 * documents were stored under with the one they will be read with. Additive
 * changes (a new optional field, a new field with a default, a widened
 * bound) break nothing; a removed field breaks nothing either (its values are
 * kept, unread).
 */
export function breakingChanges(before: JsonSchema, after: JsonSchema, path = ''): BreakingChange[] {
  const out: BreakingChange[] = []
  const at = (change: string) => out.push({ field: path || '(document)', change })
  if (before.type !== after.type && !(before.type === 'integer' && after.type === 'number')) {
    at(`its type changed from ${typeName(before)} to ${typeName(after)}`)
    return out
  }
  // an object of props and a map are both JSON objects: one's values are not the other's
  if (before.type === 'object' && !!before.properties !== !!after.properties) {
    at(before.properties ? 'it changed from an object of props to a map' : 'it changed from a map to an object of props')
    return out
  }
  if (after.enum && (!before.enum || before.enum.some(v => !after.enum!.some(w => deepEqual(v, w))))) {
    at(before.enum ? `its enum lost ${JSON.stringify(before.enum.filter(v => !after.enum!.some(w => deepEqual(v, w))))}` : `it became an enum of ${JSON.stringify(after.enum)}`)
  }
  for (const [bound, low] of [
    ['minimum', true],
    ['maximum', false],
    ['minLength', true],
    ['maxLength', false],
    ['minItems', true],
    ['maxItems', false],
  ] as const) {
    const was = before[bound]
    const now = after[bound]
    if (now !== undefined && (was === undefined || (low ? now > was : now < was))) at(`its ${bound} narrowed from ${was ?? 'none'} to ${now}`)
  }
  if (after.pattern !== undefined && after.pattern !== before.pattern) at(`its pattern ${before.pattern === undefined ? 'is new' : 'changed'} (/${after.pattern}/)`)
  for (const bound of ['minProperties', 'maxProperties', 'propertyNames'] as const) {
    const was = (before as Record<string, Json | undefined>)[bound]
    const now = (after as Record<string, Json | undefined>)[bound]
    if (now !== undefined && !deepEqual(was, now)) at(`its ${bound} changed`)
  }
  if (after.properties) {
    const wasRequired = new Set(before.required ?? [])
    for (const [name, schema] of Object.entries(after.properties)) {
      const sub = path ? `${path}.${name}` : name
      const old = before.properties?.[name]
      const required = after.required?.includes(name) === true && schema.default === undefined
      if (!old) {
        if (required) out.push({ field: sub, change: 'it is a new required field without a default' })
        continue
      }
      if (required && !wasRequired.has(name)) out.push({ field: sub, change: 'it became required without a default' })
      // documents written while it had a default may lack it
      else if (required && old.default !== undefined) out.push({ field: sub, change: 'it lost its default, and documents may lack it' })
      out.push(...breakingChanges(old, schema, sub))
    }
    // stored values still hold a prop removed from an object that allows no others
    if (after.additionalProperties === false) {
      for (const name of Object.keys(before.properties ?? {})) if (!(name in after.properties)) out.push({ field: path ? `${path}.${name}` : name, change: 'it was removed from an object that allows no other props' })
    }
  }
  if (before.items && after.items) out.push(...breakingChanges(before.items, after.items, `${path}[]`))
  else if (after.items && !before.items) at('its items got a schema')
  const [ba, aa] = [before.additionalProperties, after.additionalProperties]
  if (typeof aa === 'object' && typeof ba === 'object') out.push(...breakingChanges(ba, aa, `${path}{}`))
  else if (typeof aa === 'object' && ba === true && !after.properties) at('its values got a schema')
  return out
}

function typeName(s: JsonSchema): string {
  return s.type ?? 'any'
}
