// Sign-in for the example only: the server verifies tokens with this secret, and the page signs its own.
// An app never ships its secret: its tokens come from its auth service (any issuer of HS256 or JWKS-signed JWTs).
import { SignJWT } from 'jose'

export const DEMO_SECRET = 'tidepool-example-secret-not-for-production'

/** A token saying the holder is `user`, good for an hour. */
export function demoToken(user: string): Promise<string> {
  return new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(DEMO_SECRET))
}
