/**
 * The rules every value obeys on its way from a transaction to a replica, a
 * server and every other replica: checked where a write is made and again at
 * the server's edge, the same everywhere, so that whatever the library lets a
 * client commit, every store keeps exactly and every parser on the way reads.
 */

/** How deep objects and arrays may nest in a value (a document counts as one level). */
export const MAX_DEPTH = 32
/** The largest document id, in UTF-8 bytes: what every store's index holds (PostgreSQL's B-tree rows included). */
export const MAX_ID_BYTES = 1024
/** The largest mutation, in UTF-8 bytes of its JSON: it must fit in one push with room to spare. */
export const MAX_MUTATION_BYTES = 4 * 1024 * 1024

export interface ValueIssue {
  /** Where in the value, dotted (array items by index); '' for the value itself. */
  path: string
  reason: string
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
// the engine's own check (Node 20, browsers since 2023) is faster than the expression, which stays for older engines
const native = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'

/** Whether a string is well-formed UTF-16: no lone surrogate, which UTF-8 (SQLite, PostgreSQL, the wire) cannot carry. */
export function wellFormed(s: string): boolean {
  return native ? (s as string & { isWellFormed(): boolean }).isWellFormed() : !LONE_SURROGATE.test(s)
}

/** A string's length in UTF-8 bytes, without encoding it. */
export function utf8Length(s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // 2 bytes below U+0800, 3 above; a surrogate pair (2 units) makes 4
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1
  }
  return n
}

/** Why a string cannot be an id or a name (a collection, a client or mutation id), or undefined. */
export function idIssue(s: string, what: string): string | undefined {
  if (!wellFormed(s)) return `${what} holds a lone surrogate (not well-formed UTF-16)`
  if (utf8Length(s) > MAX_ID_BYTES) return `${what} is longer than ${MAX_ID_BYTES} bytes in UTF-8`
  return undefined
}

/** Keys that JSON parsers refuse or turn into prototype changes (Fastify's among them). */
function keyIssue(key: string, value: unknown): string | undefined {
  if (key === '__proto__') return 'the key __proto__ is not allowed (JSON parsers refuse it)'
  if (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value) return 'a constructor key holding a prototype key is not allowed (JSON parsers refuse it)'
  if (!wellFormed(key)) return 'a key holds a lone surrogate (not well-formed UTF-16)'
  return undefined
}

/**
 * Why a value breaks the rules (undefined: it keeps them): JSON values only
 * (finite numbers, plain objects and arrays, no cycles), at most `maxDepth`
 * levels of objects and arrays, strings and keys of well-formed UTF-16, and
 * no key that a JSON parser on the way refuses. Walks without recursion, so
 * no value, however deep, can overflow the stack. With `size`, adds to
 * `size.bytes` a bound of the value's JSON in UTF-8 that is never below it.
 */
export function valueIssue(value: unknown, maxDepth = MAX_DEPTH, size?: { bytes: number }): ValueIssue | undefined {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: '', depth: 0 }]
  const open = new Set<object>()
  const at = (path: string, key: string | number) => (path === '' ? String(key) : `${path}.${key}`)
  while (stack.length) {
    const { v, path, depth } = stack.pop()!
    switch (typeof v) {
      case 'boolean':
        if (size) size.bytes += 6
        continue
      case 'string':
        if (!wellFormed(v)) return { path, reason: 'holds a lone surrogate (not well-formed UTF-16)' }
        // an escaped control character is 6 bytes, any other unit at most 3
        if (size) size.bytes += 6 * v.length + 3
        continue
      case 'number':
        if (!Number.isFinite(v)) return { path, reason: `${v} is not a finite number` }
        if (size) size.bytes += 25
        continue
      case 'object': {
        if (v === null) {
          if (size) size.bytes += 5
          continue
        }
        if (size) size.bytes += 2
        if (depth >= maxDepth) return { path, reason: open.has(v) ? 'a value contains a cycle' : `nests deeper than ${maxDepth} levels of objects and arrays` }
        open.add(v)
        if (Array.isArray(v)) {
          if (size) size.bytes += v.length
          for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: at(path, i), depth: depth + 1 })
          continue
        }
        const proto = Object.getPrototypeOf(v)
        if (proto !== Object.prototype && proto !== null) return { path, reason: `${(proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'an object'} is not a plain object` }
        const keys = Object.keys(v)
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i]!
          const x = (v as Record<string, unknown>)[k]
          if (x === undefined) continue
          const bad = keyIssue(k, x)
          if (bad) return { path: at(path, k), reason: bad }
          if (size) size.bytes += 6 * k.length + 4
          stack.push({ v: x, path: at(path, k), depth: depth + 1 })
        }
        continue
      }
      default:
        return { path, reason: `a ${typeof v} is not a JSON value` }
    }
  }
  return undefined
}
