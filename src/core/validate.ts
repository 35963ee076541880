import { Validator as InterpretingValidator } from '@cfworker/json-schema'
import AjvModule from 'ajv'
import { ValidationError } from './errors.js'
import { valueIssue } from './values.js'
import type { JsonSchema } from './schema.js'

/** What is wrong with a value: where (a JSON pointer-ish path below the checked value) and why. */
export interface ValidationIssue {
  path: string
  reason: string
}
/** Checks a value; returns the first issue, or undefined when the value is valid. */
export type Check = (value: unknown) => ValidationIssue | undefined

/**
 * `compiled` generates code (Ajv; fastest, needs `new Function`), `interpreted`
 * walks the schema (@cfworker/json-schema; works under a strict
 * Content-Security-Policy). The default is `compiled` where code generation is
 * allowed and `interpreted` where it is not.
 */
export type ValidationMode = 'compiled' | 'interpreted'

const Ajv = AjvModule.default
let ajv: InstanceType<typeof Ajv> | undefined
let mode: ValidationMode = codeGenerationAllowed() ? 'compiled' : 'interpreted'

function codeGenerationAllowed(): boolean {
  try {
    return new Function('return true')() === true
  } catch {
    return false
  }
}

/** Forces how schemas are checked (see `ValidationMode`). It applies to checks compiled afterwards (a model's on its first use), so call it before opening a database. */
export function setValidationMode(m: ValidationMode): void {
  mode = m
}
/** How schemas are checked now: the mode set, or the one chosen by whether code generation is allowed. */
export function validationMode(): ValidationMode {
  return mode
}

export function compileCheck(schema: JsonSchema): Check {
  return mode === 'compiled' ? compileWithAjv(schema) : interpret(schema)
}

function compileWithAjv(schema: JsonSchema): Check {
  ajv ??= new Ajv({ strict: false, allErrors: false, validateSchema: false })
  const validate = ajv.compile(schema)
  return value => {
    if (validate(value)) return undefined
    const e = validate.errors?.[0]
    if (!e) return { path: '', reason: 'is invalid' }
    const missing = e.keyword === 'required' ? `/${String(e.params.missingProperty)}` : ''
    return { path: e.instancePath + missing, reason: e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid') }
  }
}

function interpret(schema: JsonSchema): Check {
  const validator = new InterpretingValidator(schema as object, '7', true)
  return value => {
    const result = validator.validate(value)
    if (result.valid) return undefined
    // cfworker lists the outermost failure first; the innermost names the cause
    const e = result.errors[result.errors.length - 1]
    if (!e) return { path: '', reason: 'is invalid' }
    const path = e.instanceLocation.replace(/^#/, '')
    const missing = /required property "([^"]*)"/.exec(e.error)
    if (e.keyword === 'required' && missing) return { path: `${path}/${missing[1]}`, reason: 'is required' }
    return { path, reason: e.error }
  }
}

/** Throws `ValidationError` naming `path` (and the place inside the value) when `value` is not JSON or fails `check`. */
export function assertValid(path: string, check: Check, value: unknown): void {
  const bad = valueIssue(value)
  if (bad) throw new ValidationError(bad.path ? `${path}.${bad.path}` : path, bad.reason, value)
  const issue = check(value)
  if (issue) throw new ValidationError(path + issue.path.replaceAll('/', '.'), issue.reason, value)
}

/** A field's value: present unless the field is optional, and valid. */
export function assertField(name: string, optional: boolean, check: Check, value: unknown): void {
  if (value === undefined) {
    if (!optional) throw new ValidationError(name, 'is required')
    return
  }
  assertValid(name, check, value)
}
