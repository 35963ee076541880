import { afterEach, describe, expect, it } from 'vitest'
import { compileCheck } from '../../src/core/validate.js'
import { InvalidParameterError, S, setValidationMode, validationMode } from '../../src/index.js'

describe('S emits JSON Schema', () => {
  it('for scalars with their constraints', () => {
    expect(S.str.min(1).max(5).pattern(/^a/).desc('name').jsonSchema()).toEqual({ type: 'string', minLength: 1, maxLength: 5, pattern: '^a', description: 'name' })
    expect(S.int.min(0).max(9).jsonSchema()).toEqual({ type: 'integer', minimum: 0, maximum: 9 })
    expect(S.double.jsonSchema()).toEqual({ type: 'number' })
    expect(S.bool.readOnly().jsonSchema()).toEqual({ type: 'boolean', readOnly: true })
    expect(S.str.enum('a', 'b').jsonSchema()).toEqual({ type: 'string', enum: ['a', 'b'] })
  })

  it('for objects, arrays and maps', () => {
    const obj = S.obj().prop('arr', S.arr(S.str)).prop('n', S.int.optional())
    expect(obj.jsonSchema()).toEqual({
      type: 'object',
      properties: { arr: { type: 'array', items: { type: 'string' } }, n: { type: 'integer' } },
      required: ['arr'],
      additionalProperties: false,
    })
    expect(S.map.value(S.int).jsonSchema()).toEqual({ type: 'object', additionalProperties: { type: 'integer' } })
    expect(S.arr(S.int).min(1).max(3).jsonSchema()).toEqual({ type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 })
  })

  it('deep-copies defaults so instances never share them', () => {
    const s = S.arr(S.str).default(['a'])
    const a = s.defaultValue()!
    a.push('b')
    expect(s.defaultValue()).toEqual(['a'])
    expect(s.jsonSchema().default).toEqual(['a'])
  })

  it('returns new schemas from modifiers, leaving shared ones untouched', () => {
    const opt = S.str.optional()
    expect(opt.isOptional).toBe(true)
    expect(S.str.isOptional).toBe(false)
  })

  it('rejects modifiers that do not apply to a kind', () => {
    const bool = S.bool as unknown as { min(n: number): unknown; pattern(p: string): unknown }
    expect(() => bool.min(1)).toThrow(InvalidParameterError)
    expect(() => (S.int as unknown as { pattern(p: string): unknown }).pattern('x')).toThrow(/pattern\(\) does not apply to S.int/)
  })
})

describe.each(['compiled', 'interpreted'] as const)('validation (%s)', mode => {
  const before = validationMode()
  afterEach(() => setValidationMode(before))

  it('accepts valid values and names the path of an invalid one', () => {
    setValidationMode(mode)
    const check = compileCheck(S.obj().prop('arr', S.arr(S.str)).prop('n', S.int.min(0)).jsonSchema())
    expect(check({ arr: ['ok'], n: 0 })).toBeUndefined()
    expect(check({ arr: [5], n: 0 })?.path).toBe('/arr/0')
    expect(check({ arr: [], n: -1 })?.path).toBe('/n')
    expect(check({ n: 1 })).toEqual({ path: '/arr', reason: 'is required' })
    expect(check({ arr: [], n: 1, extra: true })).toBeDefined()
  })

  it('checks integers, patterns and enums', () => {
    setValidationMode(mode)
    expect(compileCheck(S.int.jsonSchema())(1.5)).toBeDefined()
    expect(compileCheck(S.int.jsonSchema())('1')).toBeDefined()
    expect(compileCheck(S.str.pattern(/^[a-z]+$/).jsonSchema())('ABC')).toBeDefined()
    expect(compileCheck(S.str.enum('x', 'y').jsonSchema())('y')).toBeUndefined()
    expect(compileCheck(S.str.enum('x', 'y').jsonSchema())('z')).toBeDefined()
  })
})
