import { setKey } from '../core/json.js'
import type { FieldMeta } from './store.js'

/**
 * A document's field metadata as the store keeps it: the fields grouped by
 * the change that last wrote them, `[[rev, client, kind, ...fields], …]`
 * (kind 0: overwrite, 1: merge). One change usually writes most of a
 * document, so a row carries each revision and client id once instead of
 * once per field: the object form, still read, was four times the data and
 * half of what a push wrote and a pull read.
 */
type Group = [rev: number, client: string, kind: 0 | 1, ...fields: string[]]

export function encodeFields(fields: Record<string, FieldMeta>): string {
  const groups = new Map<string, Group>()
  for (const [field, m] of Object.entries(fields)) {
    const id = `${m.rev}\0${m.kind}\0${m.client}`
    const group = groups.get(id)
    if (group) group.push(field)
    else groups.set(id, [m.rev, m.client, m.kind === 'merge' ? 1 : 0, field])
  }
  return JSON.stringify([...groups.values()])
}

export function decodeFields(text: string): Record<string, FieldMeta> {
  const stored: unknown = JSON.parse(text)
  // the object form, which rows written before keep until their document is written again
  if (!Array.isArray(stored)) return stored as Record<string, FieldMeta>
  const fields: Record<string, FieldMeta> = {}
  for (const group of stored as Group[]) {
    const [rev, client, kind] = group
    const meta: FieldMeta = { rev, client, kind: kind === 1 ? 'merge' : 'overwrite' }
    for (let i = 3; i < group.length; i++) setKey(fields, group[i] as string, meta)
  }
  return fields
}
