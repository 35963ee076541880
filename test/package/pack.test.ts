import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const dir = mkdtempSync(join(tmpdir(), 'tidepool-pack-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
/** Runs a module in the installed folder; returns what it printed. */
function node(cwd: string, source: string): string {
  writeFileSync(join(cwd, 'probe.mjs'), source)
  return execFileSync(process.execPath, ['probe.mjs'], { cwd, encoding: 'utf8' })
}
/** Every file under a folder whose name ends in `suffix`. */
function filesEnding(folder: string, suffix: string): string[] {
  return (readdirSync(folder, { recursive: true }) as string[]).filter(f => f.endsWith(suffix))
}

const probe = `
for (const entry of ['tidepool/sqlite', 'tidepool/server']) {
  try { await import(entry); console.log(entry, 'loaded') } catch (e) { console.log(entry, e.name, e.message) }
}
`

describe('the npm package, installed into an empty folder', () => {
  it('pulls no native module and no server framework; tidepool/sqlite names the package it needs, and works once it is installed', { timeout: 300_000 }, () => {
    // the suite has just built dist/: pack what is there
    const tarball = join(dir, npm(['pack', '--ignore-scripts', '--pack-destination', dir], root).trim().split('\n').at(-1)!)
    const app = join(dir, 'app')
    mkdirSync(app)
    npm(['init', '-y'], app)
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app)
    const modules = join(app, 'node_modules')
    for (const pkg of ['better-sqlite3', 'fastify', '@fastify/static', 'pg', 'jose', 'prom-client']) expect(existsSync(join(modules, pkg)), pkg).toBe(false)
    expect(filesEnding(modules, '.node')).toEqual([])
    expect(filesEnding(modules, 'binding.gyp')).toEqual([])

    const missing = node(app, probe)
    expect(missing).toMatch(/tidepool\/sqlite MissingPackageError tidepool\/sqlite needs the package better-sqlite3.*npm install better-sqlite3/)
    expect(missing).toMatch(/tidepool\/server MissingPackageError tidepool\/server needs the package .*npm install fastify @fastify\/static jose prom-client/)
    const works = `
      import { Model, S, openDatabase } from 'tidepool'
      import { sqliteStorage } from 'tidepool/sqlite'
      class Note extends Model { static COLLECTION = 'Note'; static FIELDS = { text: S.str } }
      const db = await openDatabase({ name: 'n', models: [Note], storage: sqliteStorage('notes.db') })
      await db.run(tx => { tx.create(Note, { id: 'a', text: 'kept in SQLite' }) })
      await db.close()
      const again = await openDatabase({ name: 'n', models: [Note], storage: sqliteStorage('notes.db') })
      console.log(await again.run(async tx => (await tx.get(Note, 'a'))?.text))
      await again.close()
    `
    // the repository's own build of it, linked (no install script: it is built already); compiling it from source again takes a minute of both cores
    npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', join(root, 'node_modules', 'better-sqlite3')], app)
    expect(node(app, works).trim()).toBe('kept in SQLite')
  })
})
