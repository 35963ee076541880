import { Model, model, S } from '../../src/index.js'

export class Order extends Model {
  static override COLLECTION = 'Order'
  static override FIELDS = { product: S.str, quantity: S.int.min(0) }
}

export class RaceResult extends model({
  collection: 'RaceResult',
  key: { raceID: S.int, runnerName: S.str },
  fields: { seconds: S.double.optional() },
}) {
  fast(): boolean {
    return (this.seconds ?? Infinity) < 600
  }
}

export class ModelWithFields extends Model {
  static override COLLECTION = 'ModelWithFields'
  static override FIELDS = {
    someInt: S.int.min(0),
    someBool: S.bool,
    someObj: S.obj().prop('arr', S.arr(S.str)),
  }
}

export class ComplexFieldsExample extends Model {
  static override COLLECTION = 'ComplexFieldsExample'
  static override FIELDS = {
    aNonNegInt: S.int.min(0),
    anOptBool: S.bool.optional(),
    immutableInt: S.int.readOnly().default(5),
  }
}

export class Counter extends model({
  collection: 'Counter',
  fields: { count: S.int.min(0).default(0), note: S.str.optional(), tags: S.map.value(S.int).optional(), list: S.arr(S.str).default([]) },
}) {}

export class HookExample extends model({
  collection: 'HookExample',
  key: { id: S.str.min(1) },
  fields: { field1: S.int.default(0), latestUpdateEpoch: S.int.default(0).desc('latest update epoch in milliseconds') },
}) {
  static finalized = 0
  override async finalize(): Promise<void> {
    HookExample.finalized++
    this.latestUpdateEpoch = Date.now()
  }
}

export class LastUsedFeature extends model({
  collection: 'LastUsedFeature',
  key: { user: S.str, feature: S.str },
  fields: { epoch: S.int, note: S.str.optional() },
}) {}

export const allModels = [Order, RaceResult, ModelWithFields, ComplexFieldsExample, Counter, HookExample, LastUsedFeature]
