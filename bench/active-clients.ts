/**
 * One process of the clients of bench (d), forked by `activeBench`: whole
 * teams (a writer and its devices) live here, so each write and the
 * replicas it reaches share a process and a clock. The parent steps it on
 * through IPC: open, settle, write for a while, report the latencies seen.
 */
import { memoryStorage, openDatabase, type Database } from '../dist/index.js'
import { Doc, token } from './scale.js'

export type ToClients = { type: 'settle' } | { type: 'write'; until: number } | { type: 'close' }
export type FromClients = { type: 'open' } | { type: 'settled' } | { type: 'written'; writes: number; latencies: number[] }

const [url, part, parts, clients, teams] = [process.argv[2]!, ...process.argv.slice(3).map(Number)] as [string, number, number, number, number]
const send = (m: FromClients) => process.send!(m)

// client c belongs to team c % teams, whose writer is client c < teams; with `parts` dividing `teams`, the clients c % parts === part are whole teams
const ids = Array.from({ length: clients }, (_, c) => c).filter(c => c % parts === part)
const dbs = new Map<number, Database>()
for (const c of ids) dbs.set(c, await openDatabase({ name: `a${c}`, models: [Doc], storage: memoryStorage(), sync: { url, token: token(`team${c % teams}`), pollInterval: 0 } }))
const writers = ids.filter(c => c < teams)
const devices = ids.filter(c => c >= teams).map(c => dbs.get(c)!)
await Promise.all(writers.map(w => dbs.get(w)!.run(tx => void tx.create(Doc, { id: `w${w}`, n: 0, at: Date.now() }))))
await Promise.all([...dbs.values()].map(d => d.sync!.syncNow()))
const latencies: number[] = []
const stops = devices.map(d =>
  d.query(Doc).subscribe(snap => {
    const now = Date.now()
    for (const ch of snap.changes) if (ch.type !== 'removed' && !snap.metadata.hasPendingWrites) latencies.push(now - ch.doc.at)
  }),
)
send({ type: 'open' })

process.on('message', (m: ToClients) => {
  void (async () => {
    if (m.type === 'settle') {
      await Promise.all([...dbs.values()].map(d => d.sync!.syncNow()))
      latencies.length = 0
      send({ type: 'settled' })
    } else if (m.type === 'write') {
      let writes = 0
      // about 5 writes a second per writer, each to a document of its own
      await Promise.all(
        writers.map(async w => {
          // spread over the period, as independent writers would be: started together, all twenty write in one burst every 200 ms
          await new Promise(r => setTimeout(r, (w * 200) / teams))
          for (let k = 0; Date.now() < m.until; k++) {
            await dbs.get(w)!.run(tx => tx.updateWithoutRead(Doc, { id: `w${w}`, n: k, at: Date.now() }))
            writes++
            await new Promise(r => setTimeout(r, 200))
          }
        }),
      )
      // the last writes' pokes are applied (no pull asked for here: that would count one per client)
      await new Promise(r => setTimeout(r, 1000))
      send({ type: 'written', writes, latencies })
    } else {
      for (const s of stops) s()
      for (const d of dbs.values()) await d.close()
      process.exit(0)
    }
  })()
})
