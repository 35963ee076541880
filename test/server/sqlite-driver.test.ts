import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openSqliteDriver } from '../../src/server/sqlite-driver.js'

// the WAL flushes the driver asks for are held here until the test lets each one run
// (called with an error, a flush fails as the disk would report it)
const held = vi.hoisted(() => [] as Array<(error?: NodeJS.ErrnoException) => void>)
vi.mock('node:fs', async importOriginal => {
  const fs = await importOriginal<typeof import('node:fs')>()
  return { ...fs, fdatasync: (fd: number, done: (e: NodeJS.ErrnoException | null) => void) => void held.push(error => (error ? done(error) : fs.fdatasync(fd, done))) }
})

const settled = (p: Promise<unknown>) => {
  const state = { done: false }
  void p.then(() => (state.done = true))
  return state
}

/** A driver on `path` with a table `t`, its first write's flush let through. */
async function withTable(path: string) {
  const driver = openSqliteDriver(path)
  const create = driver.write(async sql => void (await sql.query('CREATE TABLE t (k TEXT)')))
  await vi.waitFor(() => expect(held).toHaveLength(1))
  held.shift()!()
  await create
  return driver
}

describe('the SQLite server driver', () => {
  let dir: string
  afterEach(() => {
    held.length = 0
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers a write, and any use of the connection after it, only once its WAL is flushed to disk', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-driver-'))
    const driver = await withTable(join(dir, 'server.db'))

    const write = settled(driver.write(async sql => void (await sql.query('INSERT INTO t VALUES (?)', ['a']))))
    const read = driver.read(sql => sql.query('SELECT COUNT(*) AS n FROM t'))
    const after = settled(read)
    await vi.waitFor(() => expect(held).toHaveLength(1))
    // committed, not yet durable: neither the write nor the read queued behind it is answered
    await new Promise(r => setImmediate(r))
    expect(write.done).toBe(false)
    expect(after.done).toBe(false)
    held.shift()!()
    expect(await read).toEqual([{ n: 1 }])
    expect(write.done).toBe(true)
    // the flush after COMMIT stands in for synchronous=FULL's fsync inside it
    expect(await driver.query('PRAGMA synchronous')).toEqual([{ synchronous: 1 }])
    await driver.close()
  })

  it('after a flush that failed, refuses every read and write: the commit it could not make durable is never read or answered', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-driver-'))
    const driver = await withTable(join(dir, 'server.db'))

    const write = driver.write(async sql => void (await sql.query('INSERT INTO t VALUES (?)', ['a'])))
    const read = driver.read(sql => sql.query('SELECT COUNT(*) AS n FROM t'))
    await vi.waitFor(() => expect(held).toHaveLength(1))
    held.shift()!(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    await expect(write).rejects.toMatchObject({ name: 'StorageError', code: 'unavailable' })
    await expect(read).rejects.toThrow(/cannot flush .* restart the server/)
    await expect(driver.write(async sql => void (await sql.query('INSERT INTO t VALUES (?)', ['b'])))).rejects.toThrow(/cannot flush/)
    expect(held).toHaveLength(0)
    await driver.close()
  })

  it('flushes the WAL of the file a symbolic link points to', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-driver-'))
    mkdirSync(join(dir, 'real'))
    symlinkSync(join(dir, 'real', 'server.db'), join(dir, 'link.db'))
    writeFileSync(join(dir, 'real', 'server.db'), '')
    const driver = await withTable(join(dir, 'link.db'))
    expect(existsSync(join(dir, 'real', 'server.db-wal'))).toBe(true)
    expect(existsSync(join(dir, 'link.db-wal'))).toBe(false)
    await driver.close()
  })

  it('has nothing to flush for a database in memory', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-driver-'))
    const driver = openSqliteDriver(':memory:')
    await driver.write(async sql => void (await sql.query('CREATE TABLE t (k TEXT)')))
    await driver.write(async sql => void (await sql.query('INSERT INTO t VALUES (?)', ['a'])))
    expect(held).toHaveLength(0)
    expect(await driver.query('SELECT COUNT(*) AS n FROM t')).toEqual([{ n: 1 }])
    await driver.close()
  })
})
