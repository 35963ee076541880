import { describe, expect, it } from 'vitest'
import { encodeKey } from '../../src/core/key.js'
import { InvalidParameterError } from '../../src/index.js'

describe('key encoding', () => {
  it('sorts component names, keeps strings, JSON-encodes the rest, joins with NUL', () => {
    expect(encodeKey(['raceID', 'runnerName'], { runnerName: 'Joe', raceID: 123 })).toBe('123\0Joe')
    expect(encodeKey(['id'], { id: 'abc' })).toBe('abc')
    expect(encodeKey(['a', 'b'], { a: true, b: null })).toBe('true\0null')
  })

  it('encodes object components with their keys sorted, so equal keys encode alike', () => {
    expect(encodeKey(['id'], { id: { raw: 'x', a: 1 } })).toBe('{"a":1,"raw":"x"}')
    expect(encodeKey(['id'], { id: { a: 1, raw: 'x' } })).toBe(encodeKey(['id'], { id: { raw: 'x', a: 1 } }))
  })

  it('rejects strings holding NUL, but allows them nested in objects', () => {
    expect(() => encodeKey(['id'], { id: 'a\0b' })).toThrow(InvalidParameterError)
    expect(encodeKey(['id'], { id: { raw: 'I can contain \0' } })).toBe('{"raw":"I can contain \\u0000"}')
  })

  it('rejects a missing component', () => {
    expect(() => encodeKey(['a', 'b'], { a: 1 })).toThrow(/b is missing/)
  })
})
