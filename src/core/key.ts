import { InvalidParameterError } from './errors.js'
import { stableStringify } from './json.js'
import { idIssue } from './values.js'

/**
 * The seed's key encoding: component names sorted, string components as they
 * are, others JSON-encoded with object keys sorted, joined with NUL. Strings
 * holding NUL are rejected (nest them in an object instead).
 */
export function encodeKey(sortedNames: readonly string[], components: Readonly<Record<string, unknown>>): string {
  let out = ''
  for (let i = 0; i < sortedNames.length; i++) {
    const name = sortedNames[i] as string
    const v = components[name]
    if (v === undefined) throw new InvalidParameterError(name, `key component ${name} is missing`)
    let part: string
    if (typeof v === 'string') {
      if (v.includes('\0')) throw new InvalidParameterError(name, `key component ${name} cannot contain the NUL character`)
      part = v
    } else {
      part = stableStringify(v)
    }
    out = i === 0 ? part : `${out}\0${part}`
  }
  const bad = idIssue(out, 'the key')
  if (bad) throw new InvalidParameterError('key', bad)
  return out
}

/** Collection names travel in storage keys, URLs and file names: keep them plain. */
export const COLLECTION_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/

/** The storage key of a document: collection names hold no NUL, so the first NUL splits. */
export function docKey(collection: string, id: string): string {
  return `${collection}\0${id}`
}

export function splitDocKey(key: string): { collection: string; id: string } {
  const i = key.indexOf('\0')
  return { collection: key.slice(0, i), id: key.slice(i + 1) }
}
