import { InvalidFieldError } from '../core/errors.js'
import { deepCopy, deepEqual, type Json } from '../core/json.js'
import type { AnySchema } from '../core/schema.js'
import { assertField, type Check } from '../core/validate.js'

/** What a model knows of one of its fields. */
export interface FieldSpec {
  name: string
  schema: AnySchema
  check: Check
  /** Objects and arrays can change by reference, so they are checked again at commit. */
  composite: boolean
  /** Props nested in the value have defaults, filled in where a value lacks them. */
  nestedDefaults: boolean
}

/** The transaction a field belongs to, as far as the field needs it. */
export interface FieldOwner {
  assertWritable(what: string): void
  /** The transaction has committed or failed. */
  readonly finished: boolean
  /** The user new documents belong to by default (their private realm); undefined until known. */
  readonly userId?: string | undefined
  /** The app's schema version, which new documents record (1 where absent). */
  readonly schemaVersion?: number
}

/**
 * One field of one model instance, as `doc.getField(name)` returns it. It
 * remembers the value as read, whether the transaction read it (which makes
 * the commit conditional on it) and what was written.
 */
export class Field<T = unknown> {
  /** The transaction read this field: the commit requires it unchanged. */
  accessed = false
  /** Assigned; the commit writes the new value. */
  written = false
  /** Sum of `incrementBy` calls made while the field was neither read nor assigned. */
  increment = 0
  private current: T | undefined
  private copied: boolean
  /** The value as first handed out (stored, or filled with defaults): what an in-place change is measured against. */
  private readonly baseline: T | undefined

  constructor(
    readonly spec: FieldSpec,
    private readonly owner: FieldOwner,
    /** The stored value as read (never changed); undefined when absent or new. */
    readonly initial: Json | undefined,
    /** The value came from the schema's default because the stored one was absent. */
    readonly fromDefault: boolean,
    value: T | undefined,
    /** The instance was created in this transaction. */
    private readonly isNew: boolean,
  ) {
    this.current = value
    this.baseline = value
    // a stored object (or a filled-in default, kept as the baseline) is copied on first access, so that reading never changes either
    this.copied = isNew || typeof value !== 'object' || value === null
  }

  get name(): string {
    return this.spec.name
  }

  /** Reads the value (and marks the field as read). */
  get(): T | undefined {
    this.accessed = true
    const v = this.peek()
    // after the transaction, objects may be shared with the replica: hand out copies
    return this.owner.finished && typeof v === 'object' ? deepCopy(v) : v
  }

  /** The current value without marking it as read. */
  peek(): T | undefined {
    if (!this.copied) {
      this.current = deepCopy(this.current)
      this.copied = true
    }
    return this.current
  }

  /** Assigns the value, as assigning the instance's property does: checked against the schema at once, written at commit. Throws on a read-only field. */
  set(value: T | undefined): void {
    if (this.spec.schema.isReadOnly) throw new InvalidFieldError(this.name, 'is immutable so value cannot be changed')
    this.owner.assertWritable(`set ${this.name}`)
    this.check(value)
    this.current = deepCopy(value)
    this.copied = true
    this.written = true
  }

  /**
   * Adds `n` to a numeric field. Unless the transaction also reads the field,
   * the commit writes an increment that never conflicts with other writers.
   */
  incrementBy(n: number): void {
    if (this.spec.schema.isReadOnly) throw new InvalidFieldError(this.name, 'is immutable so value cannot be changed')
    this.owner.assertWritable(`increment ${this.name}`)
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new InvalidFieldError(this.name, 'can only be incremented by a finite number')
    const v = this.current
    if (v === undefined) throw new InvalidFieldError(this.name, 'is undefined so it cannot be incremented')
    if (typeof v !== 'number') throw new InvalidFieldError(this.name, 'is not a number so it cannot be incremented')
    const next = (v + n) as T
    this.check(next)
    this.current = next
    if (this.written || this.accessed) this.written = true
    else this.increment += n
  }

  /** Checks the current value against the schema (nested changes included). */
  validate(): void {
    this.check(this.peek())
  }

  private check(value: unknown): void {
    assertField(this.name, this.spec.schema.isOptional, this.spec.check, value)
  }

  /** Whether the commit has something to write for this field. */
  get changed(): boolean {
    if (this.written) return !deepEqual(this.current, this.initial)
    if (this.increment !== 0) return true
    return this.accessed && this.spec.composite && this.copied && !deepEqual(this.current, this.baseline)
  }
}
