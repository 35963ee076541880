import { InvalidParameterError } from './errors.js'
import type { Json } from './json.js'

/**
 * An order-preserving encoding of values into strings, shared by every
 * storage adapter so that index order, query results and cursors are the same
 * everywhere. Type order: null < false < true < numbers < strings < arrays <
 * objects; strings by UTF-16 code unit. Every character of an encoding is
 * below U+D800, where UTF-16 order (IndexedDB, memory) and UTF-8 byte order
 * (SQLite) agree. Encodings are self-delimiting, so they concatenate.
 */

/** Type tags, in type order. */
export const TAG = { null: '0', false: '1', true: '2', number: '3', string: '4', array: '5', object: '6' } as const
/** Ends strings, arrays and objects; lower than any tag, so a prefix sorts first. */
const END = '\u0000'
const ESC = '\u0001'
/** Begins each entry of an object: above END, so an object sorts after every object it extends (an empty key included). */
const ENTRY = '\u0001'
/**
 * Bumped when an encoding changes: replicas keep it, and build their indexes
 * again when it differs. 2: object entries begin with ENTRY (before, an
 * entry with the empty key was indistinguishable from the object's end).
 */
export const ENCODING_VERSION = 2
/** Code units from here up (surrogates, U+E000–U+FFFF) are escaped to stay below U+D800 in order. */
const HIGH = 0xd7ff

export function typeTag(v: Json): string {
  if (v === null) return TAG.null
  switch (typeof v) {
    case 'boolean':
      return v ? TAG.true : TAG.false
    case 'number':
      return TAG.number
    case 'string':
      return TAG.string
    default:
      return Array.isArray(v) ? TAG.array : TAG.object
  }
}

/** The type's rank: what range comparisons compare within (true and false are one type). */
export function typeRank(v: Json): number {
  const t = typeTag(v)
  return t === TAG.true ? Number(TAG.false) : Number(t)
}

export function encodeValue(v: Json): string {
  const tag = typeTag(v)
  switch (tag) {
    case TAG.number:
      return tag + encodeNumber(v as number)
    case TAG.string:
      return tag + encodeString(v as string)
    case TAG.array:
      return `${tag}${(v as Json[]).map(encodeValue).join('')}${END}`
    case TAG.object: {
      const o = v as Record<string, Json>
      let out = tag
      for (const k of Object.keys(o).sort()) if (o[k] !== undefined) out += ENTRY + encodeString(k) + encodeValue(o[k]!)
      return out + END
    }
    default:
      return tag
  }
}

const f64 = new Float64Array(1)
const bytes = new Uint8Array(f64.buffer)
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** 16 hex digits of the IEEE 754 bits, big-endian and sign-flipped so that string order is numeric order. */
function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new InvalidParameterError('value', `${n} cannot be stored or indexed`)
  f64[0] = n === 0 ? 0 : n // -0 sorts as 0
  const negative = bytes[littleEndian ? 7 : 0]! >= 0x80
  let out = ''
  for (let i = 0; i < 8; i++) {
    let b = bytes[littleEndian ? 7 - i : i]!
    // negatives: flip every bit (larger magnitudes sort first); positives: set the sign bit
    if (negative) b = ~b & 0xff
    else if (i === 0) b |= 0x80
    out += HEX[b]!
  }
  return out
}

function encodeString(s: string): string {
  let out = ''
  let from = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > ESC.charCodeAt(0) && c < HIGH) continue
    out += s.slice(from, i)
    from = i + 1
    if (c < HIGH) out += ESC + String.fromCharCode(c + 1)
    else {
      // HIGH, then the offset in two characters of 0x100–0x1FF (high 7 bits, low 7 bits... of 0..0x2800)
      const d = c - HIGH
      out += String.fromCharCode(HIGH) + String.fromCharCode(0x100 + (d >> 7)) + String.fromCharCode(0x100 + (d & 0x7f))
    }
  }
  return out + s.slice(from) + END
}

/** For a prefix ending in a separator character: the smallest string above every key that starts with it. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}
