import { InvalidParameterError } from '../core/errors.js'
import { Key } from './model.js'
import type { ModelClass } from './types.js'

/**
 * An array of keys that drops repeats, for building the key list of a batch
 * `tx.get` (which rejects duplicate keys).
 */
export class UniqueKeyList<M extends ModelClass = ModelClass> extends Array<Key<M>> {
  readonly #seen = new Set<string>()

  constructor(...keys: Array<Key<M>>) {
    super()
    this.push(...keys)
  }

  // map(), filter() and friends return plain arrays
  static override get [Symbol.species](): ArrayConstructor {
    return Array
  }

  override push(...keys: Array<Key<M>>): number {
    for (const key of keys) {
      if (!(key instanceof Key)) throw new InvalidParameterError('key', 'UniqueKeyList holds keys made by Model.key()')
      const id = `${key.collection}\0${key.encodedKey}`
      if (this.#seen.has(id)) continue
      this.#seen.add(id)
      super.push(key)
    }
    return this.length
  }
}
