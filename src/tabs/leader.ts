import { unref } from '../core/backoff.js'
import { Listeners } from '../core/status-hub.js'
import type { Replica } from '../replica/replica.js'

/** The replica's storage area where tabs keep their lease (declared where the storage is shared). */
export const TABS_AREA = 'tabs'

/**
 * Which tab of an origin leads (holds the server connection). Web Locks where
 * the browser has them: the lock is released the moment its tab closes or
 * crashes, so the next tab in line takes over at once. Elsewhere a lease in
 * the shared storage, refreshed by a heartbeat and taken over when it lapses.
 */
export interface Leadership {
  readonly isLeader: boolean
  /** Called with true when this tab becomes the leader, false when it stops being it. */
  onChange(listener: (leader: boolean) => void): () => void
  /** Takes the lead from a leader that cannot serve well (a hidden tab). */
  takeOver(): void
  /** Gives up the lead and stops competing for it. */
  release(): void
}

export interface LeaderOptions {
  /** The lock's (or lease's) name: one leader per name. */
  name: string
  /** Where the lease is kept when Web Locks are missing (in its TABS_AREA). */
  replica: Replica
  /** `null` forces the lease (tests); default `navigator.locks`. */
  locks?: LockManager | null
  /** The lease's length in ms (default 1500); the heartbeat renews it three times as often. */
  lease?: number
}

export function electLeader(options: LeaderOptions): Leadership {
  const locks = options.locks === undefined ? (globalThis.navigator as Navigator | undefined)?.locks : options.locks
  return locks ? new LockLeadership(locks, options.name) : new LeaseLeadership(options.replica, options.name, options.lease ?? 1500)
}

abstract class BaseLeadership implements Leadership {
  private leader = false
  private readonly listeners = new Listeners<boolean>()
  protected released = false

  get isLeader(): boolean {
    return this.leader
  }

  onChange(listener: (leader: boolean) => void): () => void {
    return this.listeners.add(listener)
  }

  protected set(leader: boolean): void {
    if (leader === this.leader) return
    this.leader = leader
    this.listeners.emit(leader)
  }

  abstract takeOver(): void
  abstract release(): void
}

class LockLeadership extends BaseLeadership {
  private unlock: (() => void) | undefined

  constructor(
    private readonly locks: LockManager,
    private readonly name: string,
  ) {
    super()
    this.compete(false)
  }

  private compete(steal: boolean): void {
    if (this.released) return
    this.locks
      .request(this.name, steal ? { steal: true } : {}, () => {
        if (this.released) return undefined
        this.set(true)
        // held until released, or until the tab goes away
        return new Promise<void>(resolve => (this.unlock = resolve))
      })
      .then(
        () => this.set(false),
        // stolen (AbortError): wait in line again
        () => {
          this.set(false)
          this.compete(false)
        },
      )
  }

  takeOver(): void {
    if (!this.isLeader) this.compete(true)
  }

  release(): void {
    this.released = true
    this.unlock?.()
    this.set(false)
  }
}

interface Lease {
  owner: string
  expires: number
}

class LeaseLeadership extends BaseLeadership {
  private readonly id = globalThis.crypto.randomUUID()
  private readonly timer: ReturnType<typeof setInterval>
  private readonly onPageHide = () => this.release()

  constructor(
    private readonly replica: Replica,
    private readonly name: string,
    private readonly lease: number,
  ) {
    super()
    this.timer = unref(setInterval(() => void this.beat(false), Math.max(50, Math.floor(lease / 3))))
    globalThis.addEventListener?.('pagehide', this.onPageHide)
    void this.beat(false)
  }

  /** Renews the lease if this tab holds it or it has lapsed (or `force`); a storage write transaction makes the claim atomic. */
  private async beat(force: boolean): Promise<void> {
    if (this.released) return
    try {
      const mine = await this.replica.transact(null, async scope => {
        const area = scope.area(TABS_AREA)
        const current = (await area.get(this.name)) as Lease | undefined
        const now = Date.now()
        if (!force && current && current.owner !== this.id && current.expires > now) return false
        area.put(this.name, { owner: this.id, expires: now + this.lease } satisfies Lease)
        return true
      })
      if (!this.released) this.set(mine)
    } catch {
      // closed storage: nothing to lead
      this.set(false)
    }
  }

  takeOver(): void {
    void this.beat(true)
  }

  release(): void {
    if (this.released) return
    clearInterval(this.timer)
    globalThis.removeEventListener?.('pagehide', this.onPageHide)
    const wasLeader = this.isLeader
    this.released = true
    this.set(false)
    if (!wasLeader) return
    // let the next tab take over now rather than when the lease lapses
    void this.replica
      .transact(null, async scope => {
        const area = scope.area(TABS_AREA)
        if (((await area.get(this.name)) as Lease | undefined)?.owner === this.id) area.delete(this.name)
      })
      .catch(() => undefined)
  }
}
