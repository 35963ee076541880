// A replica in its own process, syncing through a folder or a WebDAV share: writes its notes, then syncs until it sees everyone's.
// Usage: folder-client.ts <folder or http(s) URL> <replica.db> <label> <notes to write> <notes expected in all>
// (WebDAV credentials in TIDEPOOL_WEBDAV_USER / TIDEPOOL_WEBDAV_PASSWORD)
import { Model, S, openDatabase } from 'tidepool'
import { folderStore, webdavStore } from 'tidepool/files'
import { sqliteStorage } from 'tidepool/sqlite'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, likes: S.int.default(0) }
}

const [folder, file, label, write, expected] = process.argv.slice(2) as [string, string, string, string, string]
const store = /^https?:/.test(folder) ? webdavStore(folder, { username: process.env.TIDEPOOL_WEBDAV_USER, password: process.env.TIDEPOOL_WEBDAV_PASSWORD }) : folderStore(folder)
const db = await openDatabase({ name: 'shared', models: [Note], storage: sqliteStorage(file), files: { stores: [store], label, interval: 0 } })
// the shared note was made before the processes started: find it first
while (!(await db.run(tx => tx.get(Note, 'shared')))) await db.files.sync()
for (let i = 0; i < Number(write); i++) {
  await db.run(async tx => {
    tx.create(Note, { id: `${label}-${i}`, text: `note ${i} by ${label}` })
    // everyone likes the shared note: increments from every process add up
    ;(await tx.get(Note, 'shared'))!.getField('likes').incrementBy(1)
  })
  if (i % 5 === 0) await db.files.sync()
}
const deadline = Date.now() + 20_000
for (;;) {
  await db.files.sync()
  const count = await db.query(Note).count()
  if (count >= Number(expected) || Date.now() > deadline) break
  await new Promise(r => setTimeout(r, 50 + Math.random() * 100))
}
// a last round so that everything this process merged is seen written back
await db.files.sync()
const notes = await db.query(Note).fetch()
console.log(JSON.stringify({ label, clientId: db.clientId, notes: notes.map(n => [n.id, n.likes]).sort() }))
await db.close()
