import type { Json } from '../core/json.js'
import { PROTOCOL_VERSION, type DocumentChange, type PullRequest, type PullResponse } from '../protocol/messages.js'
import { PermissionDeniedError } from '../core/errors.js'
import type { FieldMeta, ServerDoc, ServerStore, Viewer } from './store.js'

/** A document as it is now, whole (or its deletion): what a client that may lack it applies. */
export function wholeChange(d: ServerDoc): DocumentChange {
  return d.data === null ? { collection: d.collection, id: d.id, revision: d.revision, deleted: true } : { collection: d.collection, id: d.id, revision: d.revision, doc: d.data }
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
export async function pull(store: ServerStore, req: PullRequest, viewer: Viewer, limit = PULL_PAGE): Promise<PullResponse> {
  // a page after the first: a document's row comes at its latest revision, so its fields are new since the first page's start
  const fieldsSince = Math.min(req.base ?? req.since, req.since)
  const { revision, docs, joined, left, lost, results, firstRejection = Infinity, more, owner, resync, total } = await store.pull(req.clientId, req.since, limit, viewer, fieldsSince)
  if (owner !== undefined && owner !== viewer.userId) throw new PermissionDeniedError(`client ${req.clientId} belongs to another user`)
  if (resync) return { type: 'pull-result', v: PROTOCOL_VERSION, revision, changes: [], results: [], user: viewer.userId, resync }
  const acked = new Set(results.filter(r => r.status === 'applied').map(r => r.revision))
  // a write acknowledged after one of the client's rejections may stand on what was refused (an update of its own create, where the server applied it to another's document): the client's copy is not the server's
  const own = (m: FieldMeta | undefined) => !req.whole && m !== undefined && m.client === req.clientId && m.kind === 'overwrite' && acked.has(m.rev) && m.rev < firstRejection
  const changes: DocumentChange[] = []
  for (const d of docs) {
    const existence = d.fields['']
    const existenceChanged = existence !== undefined && existence.rev > fieldsSince && !own(existence)
    if (d.data === null) {
      if (existenceChanged) changes.push({ collection: d.collection, id: d.id, revision: d.revision, deleted: true })
      continue
    }
    if (existenceChanged) {
      changes.push({ collection: d.collection, id: d.id, revision: d.revision, doc: d.data })
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
  changes.push(...joined.map(wholeChange))
  const evict = lost.length || left.length ? { evict: { realms: lost, docs: left.map(({ collection, id }) => ({ collection, id })) } } : {}
  return { type: 'pull-result', v: PROTOCOL_VERSION, revision, changes, results, ...(more ? { more } : {}), ...(total !== undefined ? { total: total + joined.length } : {}), user: viewer.userId, ...evict }
}
