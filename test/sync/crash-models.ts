import { Model, S } from '../../src/index.js'

export class Entry extends Model {
  static override COLLECTION = 'Entry'
  static override KEY = { n: S.int }
  static override FIELDS = { payload: S.str }
}
export class Tally extends Model {
  static override COLLECTION = 'Tally'
  static override FIELDS = { count: S.int.default(0) }
}
