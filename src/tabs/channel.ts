import type { MutationResult, Rejection } from '../core/changes.js'
import type { ChangeNotice } from '../replica/change-feed.js'
import { unref } from '../core/backoff.js'
import type { SyncStatus } from '../core/syncer.js'

/** What tabs of one replica tell each other. Every message names the tab it came from. */
/** Why a leader's round failed, as it is posted to the tab that asked for it. */
export interface SyncFailure {
  name: string
  message: string
  status?: number
  code?: string
}

export type TabMessage = { from: string } & (
  | ({ type: 'changes' } & ChangeNotice)
  /** A tab that is not the leader asks it to sync now; the leader answers `synced` with the same id after a round that began after the ask. */
  | { type: 'wake'; id?: string }
  | { type: 'synced'; id: string; error?: SyncFailure }
  /** A new tab asks the leader to introduce itself. */
  | { type: 'hello' }
  | { type: 'leader'; hidden: boolean }
  | { type: 'status'; status: SyncStatus; upToDate: boolean }
  | { type: 'rejected'; rejection: Rejection }
  /** A tab waits for the server's verdict on a mutation (`run({ confirm: 'server' })`). */
  | { type: 'wait'; id: string }
  | { type: 'result'; id: string; result?: MutationResult; error?: string }
)

type Body<M> = M extends unknown ? Omit<M, 'from'> : never

/**
 * One BroadcastChannel per replica and tab. Where BroadcastChannel is
 * missing there are no other tabs to tell, and posts go nowhere.
 */
export class TabChannel {
  /** This tab (this open database, in fact: two in one page are two tabs). */
  readonly id = globalThis.crypto.randomUUID()
  private readonly channel: BroadcastChannel | undefined
  private readonly listeners = new Set<(m: TabMessage) => void>()

  constructor(readonly name: string) {
    if (typeof BroadcastChannel === 'undefined') return
    this.channel = new BroadcastChannel(name)
    // Node's channels would keep a process alive
    unref(this.channel)
    this.channel.onmessage = (e: MessageEvent<TabMessage>) => {
      for (const l of [...this.listeners]) l(e.data)
    }
  }

  post(message: Body<TabMessage>): void {
    this.channel?.postMessage({ ...message, from: this.id })
  }

  on(listener: (m: TabMessage) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The replica's view of the channel: change notices in both directions. */
  notices(): { post(n: ChangeNotice): void; subscribe(cb: (n: ChangeNotice) => void): () => void } {
    return {
      post: n => this.post({ type: 'changes', changeSeq: n.changeSeq, keys: n.keys }),
      subscribe: cb => this.on(m => m.type === 'changes' && cb(m)),
    }
  }

  close(): void {
    this.listeners.clear()
    this.channel?.close()
  }
}
