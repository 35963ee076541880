/**
 * Hybrid logical clocks: wall-clock milliseconds with a counter for events
 * in the same millisecond, so that a replica's own events are strictly
 * increasing and an event is always later than every event it has seen,
 * whatever the wall clocks say. Encoded as fixed-width strings that sort in
 * clock order; the writer's client id and sequence number break ties, so
 * every replica orders every pair of events the same way.
 */
export interface Clock {
  wall: number
  counter: number
}

/** How far ahead of this machine's clock a received clock may pull ours (ms). */
export const MAX_DRIFT = 5 * 60_000

export const ZERO: Clock = { wall: 0, counter: 0 }

export function encodeClock(c: Clock): string {
  return `${String(c.wall).padStart(15, '0')}.${String(c.counter).padStart(6, '0')}`
}

export function decodeClock(s: string): Clock | undefined {
  const m = /^(\d{15})\.(\d{6})$/.exec(s)
  return m ? { wall: Number(m[1]), counter: Number(m[2]) } : undefined
}

export function compareClocks(a: Clock, b: Clock): number {
  return a.wall - b.wall || a.counter - b.counter
}

/** The largest counter the encoding holds (six digits). */
const MAX_COUNTER = 999_999

/** The clock of a new local event. A counter that would outgrow its digits moves the clock on a millisecond instead. */
export function tick(last: Clock, now: number): Clock {
  const wall = Math.max(last.wall, now)
  if (wall !== last.wall) return { wall, counter: 0 }
  return last.counter < MAX_COUNTER ? { wall, counter: last.counter + 1 } : { wall: wall + 1, counter: 0 }
}

/**
 * Our clock after seeing a remote event: past both. A remote clock more than
 * MAX_DRIFT ahead of `now` moves ours only that far (`clamped`), so one
 * machine with a wrong clock cannot drag every replica into its future.
 */
export function receive(last: Clock, remote: Clock, now: number): { clock: Clock; clamped: boolean } {
  const limit = now + MAX_DRIFT
  const clamped = remote.wall > limit
  const seen = clamped ? { wall: limit, counter: 0 } : remote
  const later = compareClocks(seen, last) > 0 ? seen : last
  return { clock: later, clamped }
}

/** The total order of events: clock, then writer, then the writer's sequence number. */
export function eventKey(clock: string, clientId: string, seq: number): string {
  return `${clock}|${clientId}|${String(seq).padStart(12, '0')}`
}
