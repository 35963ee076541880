import { MEMBER_COLLECTION, REALM_COLLECTION, ROLES } from '../core/realms.js'
import { S } from '../core/schema.js'
import { model } from './model.js'

/**
 * A realm others can be members of. Creating one makes its creator its admin
 * (the server writes that `Member`); it lives in its own realm (`realmId`
 * equals `id`), so its members read it. Choose an id nobody else will: a
 * random UUID is the default.
 */
export class Realm extends model({
  collection: REALM_COLLECTION,
  fields: { name: S.str.optional() },
}) {}

/**
 * A user's roles in a realm: `read` syncs it, `write` also changes its
 * documents, `admin` also manages its members and its `Realm` document.
 * Members of a realm read its `Member` documents.
 */
export class Member extends model({
  collection: MEMBER_COLLECTION,
  key: { realmId: S.str, userId: S.str },
  fields: { roles: S.arr(S.str.enum(...ROLES)) },
}) {}

/** The built-in models every database opens with. */
export const BUILTIN_MODELS = [Realm, Member] as const
