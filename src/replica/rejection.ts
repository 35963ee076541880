import type { RejectionReason } from '../core/changes.js'
import type { Mutation } from '../core/mutation.js'

/** A mutation the server refused, kept until the app acknowledges it. */
export interface Rejection {
  id: string
  mutation: Mutation
  reason: RejectionReason
  message: string
  /** The collections the mutation touched. */
  collections: string[]
  at: number
}
