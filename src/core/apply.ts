import { ConditionFailedError, ModelAlreadyExistsError, ValidationError } from './errors.js'
import { deepEqual, isPlainObject, setKey, shallowCopy, type Json, type JsonObject } from './json.js'
import type { Op, Path, Precondition } from './mutation.js'

/** A document's data, or undefined when it does not exist. */
export type Doc = JsonObject | undefined

/**
 * Applies one op to a document and returns the result. Pure: the input is
 * never changed; unchanged parts are shared with the result.
 */
export function applyOp(doc: Doc, op: Op): Doc {
  switch (op.type) {
    case 'create':
      if (doc) throw new ModelAlreadyExistsError(op.collection, op.id)
      return op.data
    case 'put': {
      if (!doc) return op.data
      const kept: JsonObject = {}
      for (const k in doc) if (!op.fields.includes(k)) setKey(kept, k, doc[k])
      for (const k in op.data) setKey(kept, k, op.data[k])
      return kept
    }
    case 'delete':
      return undefined
  }
  if (!doc) throw new ConditionFailedError(op.collection, op.id, 'not-found', `${op.type} of ${op.path.join('.')} needs the document to exist`)
  switch (op.type) {
    case 'set':
      return setIn(doc, op.path, () => op.value)
    case 'unset':
      return getIn(doc, op.path) === undefined ? doc : setIn(doc, op.path, () => undefined)
    case 'increment':
      return setIn(doc, op.path, old => {
        if (old !== undefined && typeof old !== 'number') throw new ValidationError(op.path.join('.'), 'cannot increment a value that is not a number', old)
        const sum = (old ?? 0) + op.by
        // JSON has no infinity: a sum that overflows would be stored as null
        if (!Number.isFinite(sum)) throw new ValidationError(op.path.join('.'), `${old ?? 0} + ${op.by} is not a finite number`, old)
        return sum
      })
    case 'arrayUnion':
      return setIn(doc, op.path, old => {
        const arr = asArray(old, op.path)
        const out = [...arr]
        for (const v of op.values) if (!out.some(x => deepEqual(x, v))) out.push(v)
        return out
      })
    case 'arrayRemove':
      return setIn(doc, op.path, old => asArray(old, op.path).filter(x => !op.values.some(v => deepEqual(x, v))))
  }
}

/**
 * Applies ops in order, skipping any that cannot apply: what a replica does
 * with mutations the server will reject (or already has), and what serverless
 * merge does everywhere alike. With `createReplaces`, a create that meets a
 * document replaces it (in serverless merge the newest create wins);
 * otherwise it is skipped like any op that cannot apply.
 */
export function applyLenient(doc: Doc, ops: Iterable<Op>, options: { createReplaces?: boolean } = {}): Doc {
  let out = doc
  for (const op of ops) {
    try {
      out = options.createReplaces && op.type === 'create' ? op.data : applyOp(out, op)
    } catch {
      // not applicable here, and so nowhere
    }
  }
  return out
}

function asArray(v: Json | undefined, path: Path): Json[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw new ValidationError(path.join('.'), 'is not an array', v)
  return v
}

export function getIn(doc: Doc, path: Path): Json | undefined {
  let cur: Json | undefined = doc
  for (const k of path) {
    if (!isPlainObject(cur)) return undefined
    cur = cur[k]
  }
  return cur
}

/** Copy-on-write update along `path`; missing intermediate objects are created. */
function setIn(obj: JsonObject, path: Path, f: (old: Json | undefined) => Json | undefined): JsonObject {
  const [head, ...rest] = path
  if (head === undefined) throw new ValidationError('', 'an op needs a path')
  const out = shallowCopy(obj)
  let next: Json | undefined
  if (rest.length === 0) {
    next = f(obj[head])
  } else {
    const child = obj[head]
    if (child !== undefined && !isPlainObject(child)) throw new ValidationError(path.join('.'), `${head} is not an object`, child)
    next = setIn(child ?? {}, rest, f)
  }
  if (next === undefined) delete out[head]
  else setKey(out, head, next)
  return out
}

/** Whether a precondition holds for the document as it is now. */
export function holds(doc: Doc, pc: Precondition): boolean {
  switch (pc.type) {
    case 'exists':
      return doc !== undefined
    case 'missing':
      return doc === undefined
    case 'equals': {
      if (!doc) return pc.ifExists === true
      const v = getIn(doc, pc.path)
      if (v === undefined) return pc.value === undefined || pc.orAbsent === true
      return deepEqual(v, pc.value)
    }
  }
}

/** Why a precondition failed, for messages that name what changed. */
export function describe(pc: Precondition): string {
  switch (pc.type) {
    case 'exists':
      return 'it was deleted'
    case 'missing':
      return 'it was created'
    case 'equals':
      return `${pc.path.join('.')} changed`
  }
}
