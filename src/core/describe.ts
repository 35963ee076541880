import type { Op, Precondition } from './mutation.js'

/**
 * One line per op and per precondition, as the tools show an outbox
 * (`tidepool inspect`, the devtools panel): the kind, the document, and the
 * rest of it as JSON, clipped so a large document stays one readable line.
 */

const clip = (value: unknown, max: number): string => {
  const text = JSON.stringify(value)
  return text.length > max ? `${text.slice(0, max - 3)}...` : text
}

/** `create Note/n1 {"data":{…}}` */
export function describeOp(op: Op, max = 120): string {
  const { type, collection, id, ...rest } = op
  return `${type} ${collection}/${id}${Object.keys(rest).length ? ` ${clip(rest, max)}` : ''}`
}

/** `exists {"collection":"Note","id":"n1"}` */
export function describePrecondition(p: Precondition, max = 120): string {
  const { type, ...rest } = p
  return `${type} ${clip(rest, max)}`
}
