import type { DocumentChange } from '../protocol/messages.js'

/**
 * A document's JSON as the store holds it, passed from the row to the pull's
 * answer without parsing it and writing it again: a large first sync spent
 * as long on that as on reading the rows. Kept beside the objects, not in
 * them, so that stores and changes stay plain data.
 */
const texts = new WeakMap<object, string>()

/** Records `text` as the JSON of `of`'s document (a row read, or a change that sends it whole). */
export function keepJson(of: object, text: string): void {
  texts.set(of, text)
}

export function storedJson(of: object): string | undefined {
  return texts.get(of)
}

/**
 * Whether `json` (an object's JSON text) has a top-level `key` whose value is
 * a string. Scans the text once; a key of that name inside a nested object
 * or a string does not count.
 */
export function namesString(json: string, key: string): boolean {
  const want = JSON.stringify(key)
  let depth = 0
  let atKey = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (c === 0x22) {
      const start = i
      for (i++; json.charCodeAt(i) !== 0x22; i++) if (json.charCodeAt(i) === 0x5c) i++
      if (atKey && depth === 1 && i + 1 - start === want.length && json.startsWith(want, start)) {
        let j = i + 1
        while (json.charCodeAt(j) !== 0x3a) j++
        for (j++; json.charCodeAt(j) <= 0x20; j++);
        return json.charCodeAt(j) === 0x22
      }
      atKey = false
    } else if (c === 0x7b || c === 0x5b) {
      depth++
      atKey = c === 0x7b && depth === 1
    } else if (c === 0x7d || c === 0x5d) depth--
    else if (c === 0x2c) atKey = depth === 1
  }
  return false
}

/** The JSON of a list of changes, passing on the stored text of the documents sent whole. */
export function changesJson(changes: readonly DocumentChange[]): string {
  let out = '['
  for (const [i, c] of changes.entries()) {
    if (i) out += ','
    const text = storedJson(c)
    out += text === undefined ? JSON.stringify(c) : `{"collection":${JSON.stringify(c.collection)},"id":${JSON.stringify(c.id)},"revision":${c.revision},"doc":${text}}`
  }
  return out + ']'
}
