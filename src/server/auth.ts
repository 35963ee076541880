import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'
import { HttpError, InvalidOptionsError } from '../core/errors.js'
import { PUBLIC_REALM, realmIssue } from '../core/realms.js'

/** How clients authenticate (see `ServerOptions.auth`). */
export type AuthOptions =
  | ({ secret: string } & TokenRules)
  | ({ jwksUrl: string } & TokenRules)
  | 'none'

/** What a token must be to be accepted, with a secret or a JWKS. */
export interface TokenRules {
  /** The signing algorithms accepted (default: HS256 with a secret; RS256, PS256, ES256 and EdDSA with a JWKS). */
  algorithms?: string[]
  /** Accept tokens without an `exp` claim (default false: a token that never expires is refused). */
  allowNoExpiry?: boolean
}

/** Who a token speaks for, and until when (ms since epoch; undefined: no end). */
export interface Identity {
  userId: string
  expires?: number
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** Checks bearer tokens: a JWT signed with one of the configured algorithms, not expired, with a subject. */
export function authenticator(auth: AuthOptions): (token: string | undefined) => Promise<Identity> {
  if (auth === 'none') return async () => ({ userId: 'anonymous' })
  let key: Uint8Array | JWTVerifyGetKey
  let algorithms: string[]
  if (typeof auth === 'object' && auth !== null && 'secret' in auth && typeof auth.secret === 'string' && auth.secret !== '') {
    key = new TextEncoder().encode(auth.secret)
    algorithms = auth.algorithms ?? ['HS256']
  } else if (typeof auth === 'object' && auth !== null && 'jwksUrl' in auth && typeof auth.jwksUrl === 'string') {
    key = createRemoteJWKSet(new URL(auth.jwksUrl))
    algorithms = auth.algorithms ?? ASYMMETRIC
  } else {
    throw new InvalidOptionsError('auth', "use { secret }, { jwksUrl } or 'none'")
  }
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw new InvalidOptionsError('auth.algorithms', 'name at least one algorithm')
  const requiredClaims = auth.allowNoExpiry ? ['sub'] : ['sub', 'exp']
  return async token => {
    if (!token) throw new HttpError(401, 'unauthenticated', 'a bearer token is required')
    let payload
    try {
      ;({ payload } = await jwtVerify(token, key as Uint8Array, { algorithms, requiredClaims }))
    } catch (e) {
      throw new HttpError(401, 'unauthenticated', `invalid token: ${(e as Error).message}`)
    }
    // the subject as it is on the wire: a numeric sub is the user "123" on every request, not 123 on some
    const sub: unknown = payload.sub
    const userId = typeof sub === 'string' ? sub : JSON.stringify(sub)
    if (userId === '' || userId === undefined) throw new HttpError(401, 'unauthenticated', 'invalid token: the token has no subject')
    // the user id names the user's private realm: it cannot be the realm everyone reads, nor hold what ids cannot
    if (userId === PUBLIC_REALM) throw new HttpError(401, 'unauthenticated', `invalid token: the subject ${PUBLIC_REALM} is reserved`)
    const bad = realmIssue(userId)
    if (bad) throw new HttpError(401, 'unauthenticated', `invalid token: the subject cannot be a user id (${bad.replace('realmId', 'it')})`)
    return { userId, ...(typeof payload.exp === 'number' ? { expires: payload.exp * 1000 } : {}) }
  }
}
