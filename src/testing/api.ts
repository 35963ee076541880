/**
 * The test functions a conformance suite registers its tests with: those of
 * Vitest, Jest, Mocha or `node:test` all fit. Assertions use `node:assert`,
 * so a failure reads the same under every runner.
 *
 * ```ts
 * import { describe, it, beforeEach, afterEach } from 'vitest'
 * import { describeStorage } from 'tidepool/testing'
 * describeStorage({ name: 'mine', make: () => ({ storage: myStorage(), reopen: () => myStorage(), cleanup() {} }) }, { describe, it, beforeEach, afterEach })
 * ```
 */
export interface TestApi {
  /** Groups the tests `body` registers under `name`. */
  describe(name: string, body: () => void): void
  /** Registers a test; it fails when `body` throws or rejects. */
  it(name: string, body: () => Promise<void> | void): void
  /** Runs `body` before each test of the enclosing group. */
  beforeEach(body: () => Promise<void> | void): void
  /** Runs `body` after each test of the enclosing group, whether it passed or failed. */
  afterEach(body: () => Promise<void> | void): void
}
