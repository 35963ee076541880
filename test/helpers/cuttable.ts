import { HttpError } from '../../src/core/errors.js'
import type { Transport } from '../../src/sync/transport.js'

/** A transport that can be cut off, for writes made offline. */
export function cuttable(inner: Transport): Transport & { online: boolean } {
  const t = {
    online: true,
    push: (req: Parameters<Transport['push']>[0]) => (t.online ? inner.push(req) : Promise.reject(new HttpError(0, 'offline', 'cut off'))),
    pull: (req: Parameters<Transport['pull']>[0]) => (t.online ? inner.pull(req) : Promise.reject(new HttpError(0, 'offline', 'cut off'))),
    socketUrl: () => inner.socketUrl(),
    ...(inner.tokens ? { tokens: inner.tokens } : {}),
  }
  return t
}
