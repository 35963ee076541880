import type { Json, JsonObject } from '../core/json.js'
import { PROTOCOL_VERSION, type DocumentChange, type PullRequest, type PullResponse } from '../protocol/messages.js'
import { PermissionDeniedError } from '../core/errors.js'
import type { FieldMeta, ServerDoc, ServerStore, Viewer } from './store.js'
import { keepJson, storedJson } from './stored-json.js'

/** A document as it is now, whole (or its deletion): what a client that may lack it applies. */
export function wholeChange(d: ServerDoc): DocumentChange {
  return d.data === null ? { collection: d.collection, id: d.id, revision: d.revision, deleted: true } : { collection: d.collection, id: d.id, revision: d.revision, doc: d.data }
}

/** A document sent whole whose stored text goes on to the answer: parsed only if something reads `doc`. */
class StoredWhole {
  readonly collection: string
  readonly id: string
  readonly revision: number
  constructor(private readonly d: ServerDoc) {
    this.collection = d.collection
    this.id = d.id
    this.revision = d.revision
  }
  get doc(): JsonObject {
    return this.d.data!
  }
  toJSON(): DocumentChange {
    return { collection: this.collection, id: this.id, revision: this.revision, doc: this.doc }
  }
}

/** The same, passing on the document's stored text where the store kept it (see stored-json.ts). */
function storedWhole(d: ServerDoc): DocumentChange {
  const text = storedJson(d)
  if (text === undefined) return wholeChange(d)
  const change = new StoredWhole(d)
  keepJson(change, text)
  return change
}

/** Documents per pull page (a commit larger than this still comes whole). */
export const PULL_PAGE = 5000

/**
 * What changed since the client's `since` in the realms its user reads, per
 * field. A field (or a document's existence) whose last change was an
 * overwrite by this same client, acknowledged in this response (and not
 * after one of its rejections), is left out: the client already has that value. Merges (increments, array ops) are
 * always sent, since only the server knows their sum. Realms the user joined
 * come whole; what the user can no longer read is named for eviction.
 */
export function pull(store: ServerStore, req: PullRequest, viewer: Viewer, limit = PULL_PAGE): Promise<PullResponse> {
  return answer(store, req, viewer, limit, wholeChange)
}

/**
 * `pull`'s answer for the wire: a document sent whole may come as its stored
 * text, unparsed (`changesJson` writes it out), and its `doc` is parsed only
 * if read.
 */
export function pullStored(store: ServerStore, req: PullRequest, viewer: Viewer): Promise<PullResponse> {
  return answer(store, req, viewer, PULL_PAGE, storedWhole)
}

async function answer(store: ServerStore, req: PullRequest, viewer: Viewer, limit: number, whole: (d: ServerDoc) => DocumentChange): Promise<PullResponse> {
  // a page after the first: a document's row comes at its latest revision, so its fields are new since the first page's start
  const fieldsSince = Math.min(req.base ?? req.since, req.since)
  const { revision, docs, joined, left, lost, results, firstRejection = Infinity, more, owner, head, resync, total } = await store.pull(req.clientId, req.since, limit, viewer, fieldsSince, req.started)
  if (owner !== undefined && owner !== viewer.userId) throw new PermissionDeniedError(`client ${req.clientId} belongs to another user`)
  if (resync) return { type: 'pull-result', v: PROTOCOL_VERSION, revision, changes: [], results: [], user: viewer.userId, resync }
  const acked = new Set(results.filter(r => r.status === 'applied').map(r => r.revision))
  // a write acknowledged after one of the client's rejections may stand on what was refused (an update of its own create, where the server applied it to another's document): the client's copy is not the server's
  const own = (m: FieldMeta | undefined) => !req.whole && m !== undefined && m.client === req.clientId && m.kind === 'overwrite' && acked.has(m.rev) && m.rev < firstRejection
  const changes: DocumentChange[] = []
  // from nothing, with none of its own writes to leave out: every document whole, none of its field history read
  if (fieldsSince === 0 && (req.whole || acked.size === 0)) changes.push(...docs.map(whole))
  else for (const d of docs) {
    const existence = d.fields['']
    const existenceChanged = existence !== undefined && existence.rev > fieldsSince && !own(existence)
    if (d.data === null) {
      if (existenceChanged) changes.push({ collection: d.collection, id: d.id, revision: d.revision, deleted: true })
      continue
    }
    if (existenceChanged) {
      changes.push(whole(d))
      continue
    }
    const set: Record<string, Json> = {}
    const unset: string[] = []
    for (const [field, meta] of Object.entries(d.fields)) {
      if (field === '' || meta.rev <= fieldsSince || own(meta)) continue
      if (field in d.data) set[field] = d.data[field]!
      else unset.push(field)
    }
    if (Object.keys(set).length || unset.length) changes.push({ collection: d.collection, id: d.id, revision: d.revision, set, unset })
  }
  // a realm joined comes whole, whoever wrote it
  changes.push(...joined.map(whole))
  const evict = lost.length || left.length ? { evict: { realms: lost, docs: left.map(({ collection, id }) => ({ collection, id })) } } : {}
  return { type: 'pull-result', v: PROTOCOL_VERSION, revision, changes, results, ...(more ? { more, head } : {}), ...(total !== undefined ? { total: total + joined.length } : {}), user: viewer.userId, ...evict }
}
