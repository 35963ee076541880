/** Values that documents hold: what JSON can represent. */
export type Json = null | boolean | number | string | Json[] | JsonObject
/** A JSON object: what a document is, and any object value inside one. */
export interface JsonObject {
  [key: string]: Json
}

export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  let n = 0
  for (const k in ao) {
    if (ao[k] === undefined) continue
    if (!deepEqual(ao[k], bo[k])) return false
    n++
  }
  for (const k in bo) if (bo[k] !== undefined) n--
  return n === 0
}

/**
 * Sets a member of a document object. A key `__proto__` (which JSON.parse
 * makes an own property) stays data: plain assignment would set the prototype.
 */
export function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  else o[k] = v
}

/** A deep copy of a JSON value; `undefined` members of objects are dropped, as JSON drops them. */
export function deepCopy<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v
  if (Array.isArray(v)) return v.map(deepCopy) as T
  const out: Record<string, unknown> = {}
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k]
    if (x !== undefined) setKey(out, k, deepCopy(x))
  }
  return out as T
}

/** A shallow copy of a document object that keeps a `__proto__` member as data. */
export function shallowCopy(o: JsonObject): JsonObject {
  const out: JsonObject = {}
  for (const k in o) setKey(out, k, o[k])
  return out
}

/** JSON.stringify with object keys sorted, so equal values always encode alike. */
export function stableStringify(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(x => (x === undefined ? 'null' : stableStringify(x))).join(',')}]`
  const o = v as Record<string, unknown>
  const parts: string[] = []
  for (const k of Object.keys(o).sort()) {
    if (o[k] !== undefined) parts.push(`${JSON.stringify(k)}:${stableStringify(o[k])}`)
  }
  return `{${parts.join(',')}}`
}

/**
 * Whether a value is JSON that every store can hold: finite numbers, plain
 * objects and arrays, no cycles (bounded by depth). A quick test, without the
 * paths and the string checks of `valueIssue`, for values that are usually fine.
 */
export function isJsonValue(v: unknown, depth = 0): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(v)
    case 'object': {
      if (v === null) return true
      if (depth > 64) return false
      if (Array.isArray(v)) return v.every(x => isJsonValue(x, depth + 1))
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) return false
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k]
        if (x !== undefined && !isJsonValue(x, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}
