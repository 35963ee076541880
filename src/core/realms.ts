import { idIssue } from './values.js'

/**
 * Realms: every document lives in one, named by its reserved top-level field
 * `realmId`, and users read and write realms by their roles. What the client
 * and the server both need to know of them lives here.
 */

/** The collections of the built-in models `Realm` and `Member`. */
export const REALM_COLLECTION = '_Realm'
export const MEMBER_COLLECTION = '_Member'
/** The realm every authenticated user reads. */
export const PUBLIC_REALM = 'public'
/** The field that names a document's realm. */
export const REALM_FIELD = 'realmId'

/** The roles a `Member` document can give, weakest first: each includes the ones before it. */
export const ROLES = ['read', 'write', 'admin'] as const
/** A role in a realm: `read` syncs it, `write` also changes its documents, `admin` also manages its members. */
export type Role = (typeof ROLES)[number]

/** Each role includes the ones before it: `write` also reads, `admin` also writes. */
export function rank(roles: readonly string[]): number {
  let best = 0
  for (const r of roles) best = Math.max(best, ROLES.indexOf(r as Role) + 1)
  return best
}
export const canRead = (roles: readonly string[]): boolean => rank(roles) >= 1
export const canWrite = (roles: readonly string[]): boolean => rank(roles) >= 2
export const canAdmin = (roles: readonly string[]): boolean => rank(roles) >= 3

/** Why `v` cannot name a realm (undefined: it can). */
export function realmIssue(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return 'realmId must be a non-empty string'
  if (v.includes('\0')) return 'realmId cannot contain the NUL character'
  return idIssue(v, 'realmId')
}
