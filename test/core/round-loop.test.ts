import { describe, expect, it } from 'vitest'
import { HttpError } from '../../src/core/errors.js'
import { RoundLoop } from '../../src/core/round-loop.js'

describe('the round loop after a 503 with Retry-After', () => {
  it('holds kicks until the pause the server asked for is over, while a round the app asks for runs at once', async () => {
    let rounds = 0
    let fail = true
    const loop = new RoundLoop(
      async () => {
        rounds++
        if (fail) throw new HttpError(503, 'unavailable', 'busy', { retryAfterMs: 60_000 })
      },
      { retry: { initial: 1000, max: 1000, jitter: 0.5 } },
    )
    await expect(loop.run()).rejects.toThrow('busy')
    expect(rounds).toBe(1)
    // a local commit or a poke kicks: it waits (a round would start synchronously if it did not)
    loop.kick()
    loop.kick()
    expect(rounds).toBe(1)
    // syncNow-style: asked for, it goes now
    fail = false
    await loop.run()
    expect(rounds).toBe(2)
    // and once a round succeeded, kicks run again at once
    loop.kick()
    expect(rounds).toBe(3)
    await loop.stop()
  })
})
