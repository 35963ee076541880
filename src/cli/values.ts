import { InvalidArgumentError } from 'commander'
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { TidepoolError } from '../core/errors.js'
import { parseKeep } from '../server/history.js'

/**
 * Parsers for option values: each turns the text into the value or refuses
 * it with the reason, which commander prints as
 * `option '--port <n>' argument 'abc' is invalid. …`.
 */

/** A whole number from `min` to `max`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return text => {
    const n = Number(text)
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `It must be a whole number, at least ${min}.` : `It must be a whole number from ${min} to ${max}.`)
    }
    return n
  }
}

/** `30d`, `12h`, `90m`, `45s`: a duration in milliseconds. */
export function duration(text: string): number {
  try {
    return parseKeep('', text)
  } catch (e) {
    if (e instanceof TidepoolError) throw new InvalidArgumentError('It takes a duration such as 30d, 12h, 90m or 45s.')
    throw e
  }
}

/** An `http(s)://` address. */
export function httpUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new InvalidArgumentError('It must be an http:// or https:// URL.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('It must be an http:// or https:// URL.')
  return text
}

/** A file that exists. */
export function existingFile(text: string): string {
  if (!existsSync(text) || !statSync(text).isFile()) throw new InvalidArgumentError(`There is no file ${resolve(text)}.`)
  return text
}

/** A directory that exists. */
export function existingDir(text: string): string {
  if (!existsSync(text) || !statSync(text).isDirectory()) throw new InvalidArgumentError(`There is no directory ${resolve(text)}.`)
  return text
}

/** JWT signing algorithms, comma-separated, each one jose verifies. */
const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']
export function algorithms(text: string): string[] {
  const names = text.split(',').map(a => a.trim())
  const unknown = names.filter(a => !ALGORITHMS.includes(a))
  if (unknown.length || names.length === 0) throw new InvalidArgumentError(`${unknown.join(', ') || 'Nothing'} is not a JWT algorithm: take one or more of ${ALGORITHMS.join(', ')}.`)
  return names
}

/** A repeatable option: every value given, in order. */
export function collect(text: string, previous: string[]): string[] {
  return [...previous, text]
}
