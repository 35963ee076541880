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
  describe(name: string, body: () => void): void
  it(name: string, body: () => Promise<void> | void): void
  beforeEach(body: () => Promise<void> | void): void
  afterEach(body: () => Promise<void> | void): void
}
