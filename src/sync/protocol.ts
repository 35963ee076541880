import type { DocumentChange, MutationResult } from '../core/changes.js'
import type { Mutation } from '../core/mutation.js'
import type { JsonSchema } from '../core/schema.js'

export type { DocumentChange, MutationResult, RejectionReason } from '../core/changes.js'

/**
 * The wire protocol between a replica and a Tidepool server. Every message
 * carries its `type` and the protocol version `v`; servers validate each one
 * (structure and size) before looking inside.
 */
export const PROTOCOL_VERSION = 1
/** Largest request body a server accepts, in bytes. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024
/** Most mutations in one push. */
export const MAX_PUSH_MUTATIONS = 1000

export interface PushRequest {
  type: 'push'
  v: typeof PROTOCOL_VERSION
  clientId: string
  mutations: Array<Pick<Mutation, 'seq' | 'id' | 'ops' | 'preconditions' | 'schemaVersion'>>
}

export interface PushResponse {
  type: 'push-result'
  v: typeof PROTOCOL_VERSION
  /** Results of the mutations handled, in order (duplicates acknowledged again). */
  results: MutationResult[]
  /** Why the server stopped before the end of the batch, if it did. */
  stopped?: { reason: 'client-diverged' | 'upgrade-required'; message: string; minSchemaVersion?: number }
  revision: number
}

export interface PullRequest {
  type: 'pull'
  v: typeof PROTOCOL_VERSION
  clientId: string
  /** The last revision this client has pulled (0: nothing yet). */
  since: number
}

export interface PullResponse {
  type: 'pull-result'
  v: typeof PROTOCOL_VERSION
  revision: number
  changes: DocumentChange[]
  /** This client's mutations applied or rejected after `since`. */
  results: MutationResult[]
  /** More changes follow `revision`: pull again from it. */
  more?: true
}

/** Sent over the WebSocket when a commit may interest the client. */
export interface Poke {
  type: 'poke'
  v: typeof PROTOCOL_VERSION
  revision: number
  /**
   * When small: the documents the push wrote, whole, covering exactly the
   * revisions after `base` up to `revision`. A client that has pulled up to
   * `base` may apply them instead of pulling; the pusher (`from`) pulls.
   */
  inline?: { base: number; from: string; changes: DocumentChange[] }
}

export interface ErrorResponse {
  type: 'error'
  v: typeof PROTOCOL_VERSION
  error: string
  message: string
}

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
            seq: { type: 'integer', minimum: 1 },
            id: { type: 'string', minLength: 1, maxLength: 128 },
            ops: { type: 'array', maxItems: 10000, items: opSchema },
            preconditions: { type: 'array', maxItems: 10000, items: preconditionSchema },
            schemaVersion: { type: 'integer', minimum: 1 },
          },
          required: ['seq', 'id', 'ops', 'preconditions', 'schemaVersion'],
        },
      },
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
      since: { type: 'integer', minimum: 0 },
    },
    required: ['type', 'v', 'clientId', 'since'],
    additionalProperties: false,
  },
} as const
