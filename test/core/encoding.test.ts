import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeValue } from '../../src/core/encoding.js'
import type { Json } from '../../src/core/json.js'

/** The order the encoding must keep, written plainly. */
function compare(a: Json, b: Json): number {
  const rank = (v: Json) => (v === null ? 0 : v === false ? 1 : v === true ? 2 : typeof v === 'number' ? 3 : typeof v === 'string' ? 4 : Array.isArray(v) ? 5 : 6)
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra - rb
  if (typeof a === 'number') return a === b ? 0 : a < (b as number) ? -1 : 1
  if (typeof a === 'string') return a === b ? 0 : a < (b as string) ? -1 : 1
  if (Array.isArray(a)) {
    const bb = b as Json[]
    for (let i = 0; i < Math.min(a.length, bb.length); i++) {
      const c = compare(a[i]!, bb[i]!)
      if (c) return c
    }
    return a.length - bb.length
  }
  if (a !== null && typeof a === 'object') {
    const ea = Object.entries(a).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    const eb = Object.entries(b as object).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
      const [ka, va] = ea[i]!
      const [kb, vb] = eb[i]!
      if (ka !== kb) return ka < kb ? -1 : 1
      const c = compare(va, vb as Json)
      if (c) return c
    }
    return ea.length - eb.length
  }
  return 0
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0)
const str = fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\u0001', '\u0002', 'a', '\uD7FF', '\uD800', '\uDFFF', '\uE000', '\uFFFF'), fc.integer({ min: 0, max: 0xffff }).map(c => String.fromCharCode(c))) })
const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>(tie => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    str,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(str, tie('v'), { maxKeys: 3 }),
  ),
})).v

describe('order-preserving value encoding', () => {
  it('orders encodings as the values (UTF-16 order, as IndexedDB and memory compare)', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const ea = encodeValue(a)
        const eb = encodeValue(b)
        expect(sign(ea < eb ? -1 : ea > eb ? 1 : 0)).toBe(sign(compare(a, b)))
      }),
      // an empty object, then more, against an object whose key is the empty string: once encoded alike
      {
        numRuns: 3000,
        examples: [
          [[{}, 0], [{ '': null }]],
          [{ a: {}, b: 0 }, { a: { '': null } }],
        ],
      },
    )
  })

  it('orders the UTF-8 bytes the same way (as SQLite compares)', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const ea = encodeValue(a)
        const eb = encodeValue(b)
        expect(sign(Buffer.compare(Buffer.from(ea, 'utf8'), Buffer.from(eb, 'utf8')))).toBe(sign(ea < eb ? -1 : ea > eb ? 1 : 0))
        expect(/[\uD800-\uDFFF]/.test(ea)).toBe(false)
      }),
      { numRuns: 3000 },
    )
  })

  it('orders the types null < false < true < numbers < strings < arrays < objects', () => {
    const ordered: Json[] = [null, false, true, -1e308, -1, -0.5, 0, 1e-300, 1, 2, 1e308, '', '\u0000', 'a', 'b', '\uFFFF', [], [null], [1], {}, { a: 1 }]
    const enc = ordered.map(encodeValue)
    expect([...enc].sort()).toEqual(enc)
  })

  it('encodes -0 as 0 and refuses non-finite numbers', () => {
    expect(encodeValue(-0)).toBe(encodeValue(0))
    expect(() => encodeValue(Number.NaN)).toThrow(/cannot be stored/)
  })
})
