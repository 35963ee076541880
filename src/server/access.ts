import { canAdmin, canRead, canWrite, PUBLIC_REALM, REALM_COLLECTION, ROLES } from '../core/realms.js'
import type { ServerTx } from './store.js'

const EVERY_ROLE: readonly string[] = ROLES
const NONE: readonly string[] = []

/** The roles a member holds in `realm`: in the public realm, at least `read`. */
function held(realm: string, member: readonly string[]): readonly string[] {
  return realm === PUBLIC_REALM && !canRead(member) ? ['read'] : member
}

/**
 * What one user may do in each realm, as of the push transaction that asks:
 * server admins hold every role everywhere, every user reads the public
 * realm, a user is the admin of their private realm (whose id is their user
 * id, unless a `Realm` document holds that id), and `Member` documents give
 * the rest. Asked once per realm per push.
 */
export class Access {
  private readonly known = new Map<string, readonly string[]>()
  /** Roles the mutation being applied gives this user: kept only if it applies. */
  private granted = new Map<string, readonly string[]>()

  constructor(
    private readonly tx: ServerTx,
    readonly userId: string,
    readonly admin: boolean,
  ) {}

  async roles(realm: string): Promise<readonly string[]> {
    if (this.admin) return EVERY_ROLE
    let roles = this.granted.get(realm) ?? this.known.get(realm)
    if (!roles) {
      // a Realm document with the user's id was made by someone else before the user came: then it is a shared realm, not theirs
      const own = realm === this.userId && realm !== PUBLIC_REALM && !(await this.tx.getDocs([{ collection: REALM_COLLECTION, id: realm }]))[0]?.data
      roles = held(realm, own ? EVERY_ROLE : ((await this.tx.memberships(this.userId, [realm])).get(realm) ?? NONE))
      this.known.set(realm, roles)
    }
    return roles
  }

  /** The mutation being applied makes this user a member of `realm` with `roles` (none: no longer). */
  grant(realm: string, roles: readonly string[]): void {
    this.granted.set(realm, held(realm, roles))
  }

  /** The mutation applied (its grants hold from now on) or was rejected (they never happened). */
  settle(applied: boolean): void {
    if (applied) for (const [realm, roles] of this.granted) this.known.set(realm, roles)
    this.granted = new Map()
  }

  async reads(realm: string): Promise<boolean> {
    return canRead(await this.roles(realm))
  }

  async writes(realm: string): Promise<boolean> {
    return canWrite(await this.roles(realm))
  }

  async administers(realm: string): Promise<boolean> {
    return canAdmin(await this.roles(realm))
  }
}
