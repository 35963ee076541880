import { InvalidParameterError } from '../core/errors.js'
import type { Mutation } from '../core/mutation.js'
import { readHead, type Head } from './head.js'
import { seqKey, STORES, type DocRecord } from './records.js'
import type { Rejection } from '../core/changes.js'
import type { KeyRange } from './storage.js'
import type { Reader, Writer } from './store.js'
import type { ViewWriter } from './view-writer.js'

/** One named storage area of a sync flavour (declared when the replica opens), as a transaction reads it. */
export interface AreaReader {
  get(key: string): Promise<unknown>
  scan(range?: KeyRange): Promise<Array<[string, unknown]>>
}

export interface AreaWriter extends AreaReader {
  put(key: string, value: unknown): void
  delete(key: string): void
}

/** What every transaction on the replica reads: the head, the outbox, named areas. */
export class ReadScope {
  private headRead: Promise<Head> | undefined

  constructor(
    protected readonly r: Reader,
    private readonly areas: ReadonlySet<string>,
  ) {}

  /** The replica's counters and identity, read once per transaction. */
  head(): Promise<Head> {
    return (this.headRead ??= readHead(this.r))
  }

  /** Pending mutations in commit order (after `seq`, when given). */
  async outbox(after?: number): Promise<Mutation[]> {
    return (await this.r.scan(STORES.outbox, after === undefined ? {} : { gt: seqKey(after) })).map(([, v]) => v as Mutation)
  }

  area(name: string): AreaReader {
    this.check(name)
    return { get: key => this.r.get(name, key), scan: range => this.r.scan(name, range) }
  }

  protected check(name: string): void {
    if (!this.areas.has(name)) throw new InvalidParameterError('area', `the replica was opened without the storage area ${name}`)
  }
}

/**
 * The one way to change a replica: a storage transaction that reads and
 * writes document records (with their index entries and the change list that
 * listeners hear), the outbox, rejections, named areas and the head. The
 * replica's `transact` writes the head, the changelog entry and the stats,
 * and delivers the changes, once for every kind of write.
 */
export class WriteScope extends ReadScope {
  /** The head to write at the end (undefined: unchanged). */
  nextHead: Head | undefined

  constructor(
    private readonly w: Writer,
    areas: ReadonlySet<string>,
    private readonly views: ViewWriter,
  ) {
    super(w, areas)
  }

  /** The head changes when the transaction commits; the changelog counter is the replica's. */
  setHead(head: Head): void {
    this.nextHead = head
  }

  /** Document records, in the order of `keys` (undefined: none). */
  async records(keys: readonly string[]): Promise<Array<DocRecord | undefined>> {
    return (await this.w.getMany(STORES.docs, keys)) as Array<DocRecord | undefined>
  }

  /** Every document record (for what touches many at once, such as evicting a realm). */
  async allRecords(): Promise<Array<[string, DocRecord]>> {
    return (await this.w.scan(STORES.docs)) as Array<[string, DocRecord]>
  }

  /** Puts `record` (or removes the document when it is undefined) in place of `old`, with its index entries. */
  writeRecord(key: string, old: DocRecord | undefined, record: DocRecord | undefined): void {
    this.views.write(key, old, record)
  }

  putOutbox(m: Mutation): void {
    this.w.put(STORES.outbox, seqKey(m.seq), m)
  }

  deleteOutbox(seq: number): void {
    this.w.delete(STORES.outbox, seqKey(seq))
  }

  /** Stores a rejection until the app acknowledges it. */
  reject(r: Rejection): void {
    this.w.put(STORES.rejections, r.id, r)
  }

  /** Removes every stored rejection. */
  async clearRejections(): Promise<void> {
    for (const [id] of await this.w.scan(STORES.rejections)) this.w.delete(STORES.rejections, id)
  }

  override area(name: string): AreaWriter {
    this.check(name)
    return {
      get: key => this.w.get(name, key),
      scan: range => this.w.scan(name, range),
      put: (key, value) => this.w.put(name, key, value),
      delete: key => this.w.delete(name, key),
    }
  }
}
