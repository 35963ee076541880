import { InvalidParameterError } from './errors.js'
import { deepCopy, type Json } from './json.js'

/** The JSON Schema (draft-07) that `S` emits. */
export interface JsonSchema {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array'
  description?: string
  default?: Json
  readOnly?: boolean
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  pattern?: string
  enum?: Json[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
}

/** Which builder made a schema: `S.str`, `S.int`, `S.double`, `S.bool`, `S.obj()`, `S.arr()` or `S.map`. */
export type SchemaKind = 'str' | 'int' | 'double' | 'bool' | 'obj' | 'arr' | 'map'

declare const TYPE: unique symbol

/**
 * A field's schema. `T` is the value's type; `O`, `D` and `R` record whether
 * it is optional, has a default and is read-only, so models can type their
 * instances and the data that `create` needs.
 */
export interface Schema<T, O extends boolean = false, D extends boolean = false, R extends boolean = false> {
  readonly [TYPE]?: { type: T; optional: O; hasDefault: D; readOnly: R }
  readonly kind: SchemaKind
  readonly isOptional: O
  readonly isReadOnly: R
  readonly hasDefault: D
  /** A fresh deep copy of the default value (undefined when there is none). */
  defaultValue(): T | undefined
  /** The JSON Schema (draft-07) that values are validated against; the server checks writes against the same. */
  jsonSchema(): JsonSchema
  /** Schemas of an object's props (obj only). */
  readonly props: Readonly<Record<string, AnySchema>>
  /** The schema of an array's items (arr), or of a map's values (map). */
  readonly element: AnySchema | undefined
}

/** Any schema, whatever its type and flags. */
export type AnySchema = Schema<unknown, boolean, boolean, boolean>
/** A record of named schemas: a model's KEY or FIELDS. */
export type Shape = Record<string, AnySchema>

/** The type of value a schema accepts (undefined included when optional). */
export type Infer<S> = S extends Schema<infer T, infer O, boolean, boolean> ? (O extends true ? T | undefined : T) : never
type IsOptional<S> = S extends Schema<unknown, infer O, boolean, boolean> ? O : never

type Simplify<T> = { [K in keyof T]: T[K] } & {}
type PropsOf<T, K extends string, S> = Simplify<T & (IsOptional<S> extends true ? { [P in K]?: Infer<S> } : { [P in K]: Infer<S> })>

interface Common<Self> {
  /** Documentation that lands in the JSON Schema's `description`. */
  desc(text: string): Self
}
/** The schema of a string: `S.str`. */
export interface StrSchema<T extends string = string, O extends boolean = false, D extends boolean = false, R extends boolean = false>
  extends Schema<T, O, D, R>, Common<StrSchema<T, O, D, R>> {
  /** The same schema, also accepting an absent value (`undefined`). */
  optional(): StrSchema<T, true, D, R>
  /** The same schema, read-only: once a document has the field, writes may not change it (a server given the models refuses them too). */
  readOnly(): StrSchema<T, O, D, true>
  /** The same schema with a default (deep-copied for each document): it applies when a document is created without the field, and when a stored one lacks it while it is required. */
  default(value: T): StrSchema<T, O, true, R>
  /** Minimum length. */
  min(n: number): StrSchema<T, O, D, R>
  /** Maximum length. */
  max(n: number): StrSchema<T, O, D, R>
  /** A regular expression the string must match, as JSON Schema's `pattern` (unanchored; flags are dropped). */
  pattern(re: RegExp | string): StrSchema<T, O, D, R>
  /** Only these values; the value's type narrows to them. */
  enum<E extends T>(...values: E[]): StrSchema<E, O, D, R>
}
/** The schema of a number: `S.int` (whole numbers) or `S.double`. */
export interface NumSchema<O extends boolean = false, D extends boolean = false, R extends boolean = false>
  extends Schema<number, O, D, R>, Common<NumSchema<O, D, R>> {
  /** The same schema, also accepting an absent value (`undefined`). */
  optional(): NumSchema<true, D, R>
  /** The same schema, read-only: once a document has the field, writes may not change it (a server given the models refuses them too). */
  readOnly(): NumSchema<O, D, true>
  /** The same schema with a default (deep-copied for each document): it applies when a document is created without the field, and when a stored one lacks it while it is required. */
  default(value: number): NumSchema<O, true, R>
  /** Minimum value (inclusive). */
  min(n: number): NumSchema<O, D, R>
  /** Maximum value (inclusive). */
  max(n: number): NumSchema<O, D, R>
  /** Only these values. */
  enum(...values: number[]): NumSchema<O, D, R>
}
/** The schema of a boolean: `S.bool`. */
export interface BoolSchema<O extends boolean = false, D extends boolean = false, R extends boolean = false>
  extends Schema<boolean, O, D, R>, Common<BoolSchema<O, D, R>> {
  /** The same schema, also accepting an absent value (`undefined`). */
  optional(): BoolSchema<true, D, R>
  /** The same schema, read-only: once a document has the field, writes may not change it (a server given the models refuses them too). */
  readOnly(): BoolSchema<O, D, true>
  /** The same schema with a default (deep-copied for each document): it applies when a document is created without the field, and when a stored one lacks it while it is required. */
  default(value: boolean): BoolSchema<O, true, R>
}
/** The schema of an object with named props and no others: `S.obj().prop(name, schema)`. */
export interface ObjSchema<T extends object = object, O extends boolean = false, D extends boolean = false, R extends boolean = false>
  extends Schema<T, O, D, R>, Common<ObjSchema<T, O, D, R>> {
  /** The same schema, also accepting an absent value (`undefined`). */
  optional(): ObjSchema<T, true, D, R>
  /** The same schema, read-only: once a document has the field, writes may not change it (a server given the models refuses them too). */
  readOnly(): ObjSchema<T, O, D, true>
  /** The same schema with a default (deep-copied for each document): it applies when a document is created without the field, and when a stored one lacks it while it is required. */
  default(value: T): ObjSchema<T, O, true, R>
  /** Adds a property (required unless its schema is optional). */
  prop<K extends string, S extends AnySchema>(name: K, schema: S): ObjSchema<PropsOf<T, K, S>, O, D, R>
}
/** The schema of an array: `S.arr(items)`. */
export interface ArrSchema<E = unknown, O extends boolean = false, D extends boolean = false, R extends boolean = false>
  extends Schema<E[], O, D, R>, Common<ArrSchema<E, O, D, R>> {
  /** The same schema, also accepting an absent value (`undefined`). */
  optional(): ArrSchema<E, true, D, R>
  /** The same schema, read-only: once a document has the field, writes may not change it (a server given the models refuses them too). */
  readOnly(): ArrSchema<E, O, D, true>
  /** The same schema with a default (deep-copied for each document): it applies when a document is created without the field, and when a stored one lacks it while it is required. */
  default(value: E[]): ArrSchema<E, O, true, R>
  /** Minimum number of items. */
  min(n: number): ArrSchema<E, O, D, R>
  /** Maximum number of items. */
  max(n: number): ArrSchema<E, O, D, R>
}
/** The schema of an object with any keys, its values of one schema: `S.map.value(schema)`. */
export interface MapSchema<V = Json, O extends boolean = false, D extends boolean = false, R extends boolean = false>
  extends Schema<Record<string, V>, O, D, R>, Common<MapSchema<V, O, D, R>> {
  /** The same schema, also accepting an absent value (`undefined`). */
  optional(): MapSchema<V, true, D, R>
  /** The same schema, read-only: once a document has the field, writes may not change it (a server given the models refuses them too). */
  readOnly(): MapSchema<V, O, D, true>
  /** The same schema with a default (deep-copied for each document): it applies when a document is created without the field, and when a stored one lacks it while it is required. */
  default(value: Record<string, V>): MapSchema<V, O, true, R>
  /** The schema of every value in the map. */
  value<S extends AnySchema>(schema: S): MapSchema<Infer<S>, O, D, R>
  /** A pattern every key must match. */
  keyPattern(re: RegExp | string): MapSchema<V, O, D, R>
  /** Minimum number of entries. */
  min(n: number): MapSchema<V, O, D, R>
  /** Maximum number of entries. */
  max(n: number): MapSchema<V, O, D, R>
}

interface Spec {
  kind: SchemaKind
  optional: boolean
  readOnly: boolean
  hasDefault: boolean
  defaultValue?: Json
  desc?: string
  min?: number
  max?: number
  pattern?: string
  enum?: Json[]
  props?: Record<string, SchemaImpl>
  items?: SchemaImpl
  value?: SchemaImpl
  keyPattern?: string
}

/** One runtime class serves every kind; the interfaces above give each kind its own methods. */
class SchemaImpl {
  constructor(private readonly spec: Spec) {
    Object.freeze(this)
  }
  get kind(): SchemaKind {
    return this.spec.kind
  }
  get isOptional(): boolean {
    return this.spec.optional
  }
  get isReadOnly(): boolean {
    return this.spec.readOnly
  }
  get hasDefault(): boolean {
    return this.spec.hasDefault
  }
  get props(): Readonly<Record<string, SchemaImpl>> {
    return this.spec.props ?? {}
  }
  get element(): SchemaImpl | undefined {
    return this.spec.kind === 'arr' ? this.spec.items : this.spec.value
  }
  defaultValue(): Json | undefined {
    return deepCopy(this.spec.defaultValue)
  }
  private with(change: Partial<Spec>, method: string, kinds?: SchemaKind[]): SchemaImpl {
    if (kinds && !kinds.includes(this.spec.kind)) {
      throw new InvalidParameterError(method, `${method}() does not apply to S.${this.spec.kind}`)
    }
    return new SchemaImpl({ ...this.spec, ...change })
  }
  optional(): SchemaImpl {
    return this.with({ optional: true }, 'optional')
  }
  readOnly(): SchemaImpl {
    return this.with({ readOnly: true }, 'readOnly')
  }
  default(value: Json): SchemaImpl {
    if (value === undefined) throw new InvalidParameterError('default', 'a default value cannot be undefined')
    return this.with({ hasDefault: true, defaultValue: deepCopy(value) }, 'default')
  }
  desc(text: string): SchemaImpl {
    return this.with({ desc: text }, 'desc')
  }
  min(n: number): SchemaImpl {
    assertNumber('min', n)
    return this.with({ min: n }, 'min', ['str', 'int', 'double', 'arr', 'map'])
  }
  max(n: number): SchemaImpl {
    assertNumber('max', n)
    return this.with({ max: n }, 'max', ['str', 'int', 'double', 'arr', 'map'])
  }
  pattern(re: RegExp | string): SchemaImpl {
    return this.with({ pattern: typeof re === 'string' ? re : re.source }, 'pattern', ['str'])
  }
  enum(...values: Json[]): SchemaImpl {
    if (values.length === 0) throw new InvalidParameterError('enum', 'enum() needs at least one value')
    return this.with({ enum: values }, 'enum', ['str', 'int', 'double'])
  }
  prop(name: string, schema: SchemaImpl): SchemaImpl {
    if (!(schema instanceof SchemaImpl)) throw new InvalidParameterError('prop', `${name} must be given a schema built with S`)
    return this.with({ props: { ...this.spec.props, [name]: schema } }, 'prop', ['obj'])
  }
  value(schema: SchemaImpl): SchemaImpl {
    return this.with({ value: schema }, 'value', ['map'])
  }
  keyPattern(re: RegExp | string): SchemaImpl {
    return this.with({ keyPattern: typeof re === 'string' ? re : re.source }, 'keyPattern', ['map'])
  }

  jsonSchema(): JsonSchema {
    const s = this.spec
    const out: JsonSchema = {}
    switch (s.kind) {
      case 'str':
        out.type = 'string'
        if (s.min !== undefined) out.minLength = s.min
        if (s.max !== undefined) out.maxLength = s.max
        if (s.pattern !== undefined) out.pattern = s.pattern
        break
      case 'int':
      case 'double':
        out.type = s.kind === 'int' ? 'integer' : 'number'
        if (s.min !== undefined) out.minimum = s.min
        if (s.max !== undefined) out.maximum = s.max
        break
      case 'bool':
        out.type = 'boolean'
        break
      case 'obj':
        Object.assign(out, shapeSchema(this.props, false))
        break
      case 'arr':
        out.type = 'array'
        if (s.items) out.items = s.items.jsonSchema()
        if (s.min !== undefined) out.minItems = s.min
        if (s.max !== undefined) out.maxItems = s.max
        break
      case 'map':
        out.type = 'object'
        out.additionalProperties = s.value ? s.value.jsonSchema() : true
        if (s.keyPattern !== undefined) (out as Record<string, unknown>).propertyNames = { pattern: s.keyPattern }
        if (s.min !== undefined) (out as Record<string, unknown>).minProperties = s.min
        if (s.max !== undefined) (out as Record<string, unknown>).maxProperties = s.max
        break
    }
    if (s.enum) out.enum = s.enum
    if (s.desc !== undefined) out.description = s.desc
    if (s.hasDefault) out.default = s.defaultValue as Json
    if (s.readOnly) out.readOnly = true
    return out
  }
}

function assertNumber(method: string, n: unknown): void {
  if (typeof n !== 'number' || Number.isNaN(n)) throw new InvalidParameterError(method, `${method}() needs a number`)
}

/** The JSON Schema of an object with these named schemas as properties. */
export function shapeSchema(shape: Readonly<Record<string, AnySchema>>, additionalProperties: boolean): JsonSchema {
  const properties: Record<string, JsonSchema> = {}
  const required: string[] = []
  for (const [name, schema] of Object.entries(shape)) {
    properties[name] = schema.jsonSchema()
    if (!schema.isOptional) required.push(name)
  }
  return { type: 'object', properties, required, additionalProperties }
}

export function isSchema(v: unknown): v is AnySchema {
  return v instanceof SchemaImpl
}

const base = (kind: SchemaKind): SchemaImpl => new SchemaImpl({ kind, optional: false, readOnly: false, hasDefault: false })

/**
 * The schema builder. Every modifier returns a new schema, so `S.str` and
 * friends can be shared freely.
 *
 * ```ts
 * static FIELDS = {
 *   product: S.str.min(1),
 *   quantity: S.int.min(0).default(1),
 *   tags: S.arr(S.str).optional(),
 *   address: S.obj().prop('city', S.str).prop('zip', S.str.optional()),
 *   counts: S.map.value(S.int),
 * }
 * ```
 */
export const S = {
  str: base('str') as unknown as StrSchema,
  int: base('int') as unknown as NumSchema,
  double: base('double') as unknown as NumSchema,
  bool: base('bool') as unknown as BoolSchema,
  map: base('map') as unknown as MapSchema,
  /** An object schema with no props yet: add them with `prop(name, schema)`. */
  obj(): ObjSchema {
    return base('obj') as unknown as ObjSchema
  },
  /** An array schema; `items` is the schema of every item (left out: any JSON values). */
  arr<S extends AnySchema>(items?: S): ArrSchema<S extends AnySchema ? Infer<S> : Json> {
    if (items !== undefined && !isSchema(items)) throw new InvalidParameterError('arr', 'S.arr() takes a schema built with S')
    return new SchemaImpl({ kind: 'arr', optional: false, readOnly: false, hasDefault: false, items: items as unknown as SchemaImpl }) as unknown as ArrSchema<
      S extends AnySchema ? Infer<S> : Json
    >
  },
}

/**
 * `value` with the defaults of its nested props filled in where they are
 * missing: on create (`fresh`) every absent prop that has a default, on read
 * only required ones (an optional prop absent is a valid value). Returns the
 * same object where nothing was missing, and shares every subtree it did not
 * change, so callers that hand the result out must copy it.
 */
export function withNestedDefaults(schema: AnySchema, value: unknown, fresh: boolean): unknown {
  if (typeof value !== 'object' || value === null) return value
  switch (schema.kind) {
    case 'obj': {
      if (Array.isArray(value)) return value
      const obj = value as Record<string, unknown>
      let out: Record<string, unknown> | undefined
      for (const [name, prop] of Object.entries(schema.props)) {
        const v = obj[name]
        const next = v === undefined ? (prop.hasDefault && (fresh || !prop.isOptional) ? prop.defaultValue() : undefined) : withNestedDefaults(prop, v, fresh)
        if (next === v) continue
        out ??= { ...obj }
        out[name] = next
      }
      return out ?? value
    }
    case 'arr': {
      const el = schema.element
      if (!el || !Array.isArray(value)) return value
      let out: unknown[] | undefined
      value.forEach((v, i) => {
        const next = withNestedDefaults(el, v, fresh)
        if (next === v) return
        out ??= [...(value as unknown[])]
        out[i] = next
      })
      return out ?? value
    }
    case 'map': {
      const el = schema.element
      if (!el || Array.isArray(value)) return value
      let out: Record<string, unknown> | undefined
      for (const [k, v] of Object.entries(value)) {
        const next = withNestedDefaults(el, v, fresh)
        if (next === v) continue
        out ??= { ...(value as Record<string, unknown>) }
        out[k] = next
      }
      return out ?? value
    }
    default:
      return value
  }
}
