import type { Infer, Schema, Shape } from '../core/schema.js'
import type { DEFAULT_KEY } from './meta.js'
import type { Migrations } from './migrations.js'
import type { Model } from './model.js'

type IsReadOnly<S> = S extends Schema<unknown, boolean, boolean, infer R> ? R : never
type Needed<S> = S extends Schema<unknown, infer O, infer D, boolean> ? (O extends true ? false : D extends true ? false : true) : never
type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** Instance properties for a FIELDS shape: read-only fields are `readonly`. */
export type FieldValues<F extends Shape> = { -readonly [K in keyof F as IsReadOnly<F[K]> extends true ? never : K]: Infer<F[K]> } & {
  readonly [K in keyof F as IsReadOnly<F[K]> extends true ? K : never]: Infer<F[K]>
}
/** Instance properties for a KEY shape: key components never change. */
export type KeyValues<K extends Shape> = { readonly [P in keyof K]: Infer<K[P]> }

/** Every document names its realm in `realmId` (a key component of models keyed by it, such as `Member`). */
export type RealmValues<K extends Shape> = 'realmId' extends keyof K ? unknown : { realmId: string }
/** `realmId` may be given on create and update; omitted on create, it is the user's private realm. */
type RealmInput<K extends Shape> = 'realmId' extends keyof K ? unknown : { realmId?: string }

/** The static side of a model class. */
export interface ModelClass<I extends Model = Model> {
  new (...args: never[]): I
  readonly prototype: I
  KEY: Shape
  FIELDS: Shape
  COLLECTION?: string
  INDEXES?: ReadonlyArray<readonly string[]>
  MIGRATIONS?: Migrations
  readonly name: string
}

/** Class-style models that keep Model's default KEY are keyed by `{ id: string }`. */
export type KeyShapeOf<M extends ModelClass> = string extends keyof M['KEY'] ? typeof DEFAULT_KEY : M['KEY']
export type FieldShapeOf<M extends ModelClass> = string extends keyof M['FIELDS'] ? Record<never, never> : M['FIELDS']

/** A typed instance of a model class: its methods plus its key and fields. */
export type Instance<M extends ModelClass> = InstanceType<M> & KeyValues<KeyShapeOf<M>> & FieldValues<FieldShapeOf<M>> & RealmValues<KeyShapeOf<M>>

type SingleKey<K extends Shape> = {
  [P in keyof K]: [Exclude<keyof K, P>] extends [never] ? Infer<K[P]> : never
}[keyof K]

/** The bare key value of a model whose key has one component. */
export type SingleKeyInput<M extends ModelClass> = SingleKey<KeyShapeOf<M>>
/** A key as the app writes it: the components, or the bare value when the key has one component. */
export type KeyInput<M extends ModelClass> = Simplify<{ [P in keyof KeyShapeOf<M>]: Infer<KeyShapeOf<M>[P]> }> | SingleKeyInput<M>

/** The data `create` takes: the key, required fields, and optional or defaulted fields that may be left out. */
export type DataInput<M extends ModelClass> = Simplify<ShapeInput<KeyShapeOf<M>> & ShapeInput<FieldShapeOf<M>> & RealmInput<KeyShapeOf<M>>>
type ShapeInput<F extends Shape> = { [P in keyof F as Needed<F[P]> extends true ? P : never]: Infer<F[P]> } & {
  [P in keyof F as Needed<F[P]> extends true ? never : P]?: Infer<F[P]>
}

/** Data for `updateWithoutRead`: the key and any writable fields. */
export type UpdateInput<M extends ModelClass> = Simplify<
  { [P in keyof KeyShapeOf<M>]: Infer<KeyShapeOf<M>[P]> } & {
    [P in keyof FieldShapeOf<M> as IsReadOnly<FieldShapeOf<M>[P]> extends true ? never : P]?: Infer<FieldShapeOf<M>[P]>
  } & RealmInput<KeyShapeOf<M>>
>

/** Expected current values for `createOrOverwrite`. */
export type ExpectedInput<M extends ModelClass> = { [P in keyof FieldShapeOf<M>]?: Infer<FieldShapeOf<M>[P]> }
