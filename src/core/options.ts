import { InvalidOptionsError } from './errors.js'

/**
 * Refuses options a caller does not know, naming the one at fault and the
 * nearest known one: from plain JavaScript a typo (`durabilty`) would
 * otherwise pass without a word. `where` names the options in messages
 * (`sqliteStorage`, `sync`).
 */
export function assertKnownOptions(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const near = nearest(key, known)
    throw new InvalidOptionsError(key, `${where} has no option ${key}${near ? ` (did you mean ${near}?)` : ''}; it takes ${known.join(', ')}`)
  }
}

/** The known name within two edits of `name`, if one is. */
function nearest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase())
    if (d <= 2 && (!best || d < best.d)) best = { name: k, d }
  }
  return best?.name
}

/** Levenshtein distance, for short names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}
