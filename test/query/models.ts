import { Model, S } from '../../src/index.js'

/** Fields of every type, some optional, and a map whose values mix types. */
const FIELDS = {
  n: S.int.optional(),
  s: S.str.optional(),
  b: S.bool.optional(),
  d: S.double.optional(),
  tags: S.arr(S.str).optional(),
  m: S.map.optional(),
}

export class Indexed extends Model {
  static override COLLECTION = 'Indexed'
  static override FIELDS = FIELDS
  static override INDEXES = [['n'], ['s'], ['b', 'n'], ['tags'], ['m.x'], ['d', 's']]
}

export class Unindexed extends Model {
  static override COLLECTION = 'Unindexed'
  static override FIELDS = FIELDS
}
