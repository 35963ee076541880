import type { JsonSchema } from '../core/schema.js'
import { idIssue } from '../core/values.js'
import { MAX_PUSH_MUTATIONS, PROTOCOL_VERSION, type PullRequest, type PushRequest } from './messages.js'

/** Sequence numbers and revisions stay within what JavaScript counts exactly (and every store holds). */
const MAX_INTEGER = Number.MAX_SAFE_INTEGER

const target = { collection: { type: 'string', minLength: 1, maxLength: 128 }, id: { type: 'string', maxLength: 4096 } }
const path = { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', maxLength: 1024 } }
const op = (type: string, extra: Record<string, JsonSchema> = {}, required: string[] = []): JsonSchema =>
  ({
    type: 'object',
    properties: { type: { enum: [type] }, ...target, ...extra },
    required: ['type', 'collection', 'id', ...required],
    additionalProperties: false,
  }) as JsonSchema

/** One op as JSON Schema: what the server accepts in a push, and what serverless sync accepts from a file. */
export const opSchema = {
  oneOf: [
    op('create', { data: { type: 'object' } }, ['data']),
    op('put', { data: { type: 'object' }, fields: { type: 'array', items: { type: 'string' } } as JsonSchema }, ['data', 'fields']),
    op('set', { path: path as JsonSchema, value: {} }, ['path', 'value']),
    op('unset', { path: path as JsonSchema }, ['path']),
    op('increment', { path: path as JsonSchema, by: { type: 'number' } }, ['path', 'by']),
    op('arrayUnion', { path: path as JsonSchema, values: { type: 'array' } }, ['path', 'values']),
    op('arrayRemove', { path: path as JsonSchema, values: { type: 'array' } }, ['path', 'values']),
    op('delete'),
  ],
}
const preconditionSchema = {
  oneOf: [
    op('exists'),
    op('missing'),
    op('equals', { path: path as JsonSchema, value: {}, orAbsent: { enum: [true] } as JsonSchema, ifExists: { enum: [true] } as JsonSchema }, ['path']),
  ],
}

/** JSON Schemas of the requests a server accepts. */
export const REQUEST_SCHEMAS = {
  push: {
    type: 'object',
    properties: {
      type: { enum: ['push'] },
      v: { enum: [PROTOCOL_VERSION] },
      clientId: { type: 'string', minLength: 1, maxLength: 128 },
      mutations: {
        type: 'array',
        maxItems: MAX_PUSH_MUTATIONS,
        items: {
          type: 'object',
          properties: {
            seq: { type: 'integer', minimum: 1, maximum: MAX_INTEGER },
            id: { type: 'string', minLength: 1, maxLength: 128 },
            ops: { type: 'array', maxItems: 10000, items: opSchema },
            preconditions: { type: 'array', maxItems: 10000, items: preconditionSchema },
            schemaVersion: { type: 'integer', minimum: 1, maximum: MAX_INTEGER },
          },
          required: ['seq', 'id', 'ops', 'preconditions', 'schemaVersion'],
        },
      },
      pulled: { type: 'integer', minimum: 0, maximum: MAX_INTEGER },
    },
    required: ['type', 'v', 'clientId', 'mutations'],
    additionalProperties: false,
  },
  pull: {
    type: 'object',
    properties: {
      type: { enum: ['pull'] },
      v: { enum: [PROTOCOL_VERSION] },
      clientId: { type: 'string', minLength: 1, maxLength: 128 },
      since: { type: 'integer', minimum: 0, maximum: MAX_INTEGER },
      base: { type: 'integer', minimum: 0, maximum: MAX_INTEGER },
      started: { type: 'integer', minimum: 0, maximum: MAX_INTEGER },
      whole: { enum: [true] },
    },
    required: ['type', 'v', 'clientId', 'since'],
    additionalProperties: false,
  },
} as const

/**
 * What a request's schema cannot say of its names: client and mutation ids
 * are well-formed UTF-16 without NUL, so that every store keeps them exactly.
 * Checked after the schema; undefined when the request is fine.
 */
export function requestIssue(req: PushRequest | PullRequest): string | undefined {
  const names: Array<[string, string]> = [['clientId', req.clientId], ...(req.type === 'push' ? req.mutations.map((m, i): [string, string] => [`mutations.${i}.id`, m.id]) : [])]
  for (const [where, name] of names) {
    const bad = name.includes('\0') ? `${where} holds NUL` : idIssue(name, where)
    if (bad) return bad
  }
  return undefined
}
