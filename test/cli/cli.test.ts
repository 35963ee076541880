import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const CLI = join(import.meta.dirname, '../../dist/cli/main.js')
const dir = mkdtempSync(join(tmpdir(), 'tidepool-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs the built CLI to its end: its exit code and what it printed. */
function tidepool(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

/** Starts `tidepool serve` and resolves with its first line once it listens, then stops it. */
function listens(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--db', join(dir, `s-${Math.random()}.db`), ...args], { env: { ...process.env, ...env } })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (/listening on/.test(out)) {
        child.kill('SIGTERM')
        resolve(out)
      }
    })
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', code => reject(new Error(`exited ${code}: ${err}`)))
  })
}

describe('the tidepool command line', () => {
  it('answers --help and -h on every command and subcommand, and --version, with exit 0', async () => {
    for (const args of [[], ['serve'], ['compact'], ['import'], ['inspect'], ['files'], ['files', 'inspect'], ['files', 'sync'], ['files', 'forget']]) {
      for (const flag of ['--help', '-h']) {
        const r = await tidepool([...args, flag])
        expect(r.code, `${args.join(' ')} ${flag}`).toBe(0)
        expect(r.stdout).toContain(`Usage: tidepool${args.length ? ` ${args.join(' ')}` : ''}`)
      }
    }
    expect((await tidepool(['serve', '--help'])).stdout).toMatch(/--keep-history <d>[\s\S]*--static <dir>/)
    expect((await tidepool(['files', 'help', 'sync'])).stdout).toContain('Usage: tidepool files sync')
    const version = await tidepool(['--version'])
    expect(version).toMatchObject({ code: 0, stdout: `${(await import(pathToFileURL(join(import.meta.dirname, '../../package.json')).href, { with: { type: 'json' } })).default.version}\n` })
  })

  it('refuses an unknown command or option with exit 2, naming what was meant', async () => {
    expect(await tidepool(['srve'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command 'srve'\n\(Did you mean serve\?\)/) })
    expect(await tidepool(['serve', '--prot', '80'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown option '--prot'\n\(Did you mean --port\?\)/) })
    expect(await tidepool(['files', 'inspct', dir])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Did you mean inspect\?/) })
    expect(await tidepool(['compact', '--db', join(dir, 'x.db')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/required option '--keep <duration>'/) })
    expect(await tidepool(['serve', 'extra'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/too many arguments/) })
  })

  it('checks every option value before anything starts', async () => {
    const refused: Array<[string[], RegExp]> = [
      [['serve', '--min-schema', 'abc'], /'--min-schema <n>' argument 'abc' is invalid\. It must be a whole number, at least 1/],
      [['serve', '--min-schema', '0'], /--min-schema/],
      [['serve', '--port', '65536'], /'--port <n>' argument '65536' is invalid\. It must be a whole number from 0 to 65535/],
      [['serve', '--port', '4e3'], /--port/],
      [['serve', '--socket-buffer', '10'], /'--socket-buffer <bytes>' argument '10' is invalid/],
      [['serve', '--keep-history', '30 days'], /'--keep-history <d>' argument '30 days' is invalid\. It takes a duration such as 30d/],
      [['serve', '--jwks', 'ftp://keys'], /'--jwks <url>' argument 'ftp:\/\/keys' is invalid/],
      [['serve', '--algorithms', 'HS256,none'], /none is not a JWT algorithm/],
      [['serve', '--secret', 's', '--jwks', 'https://keys.example/jwks.json'], /'--secret <s>' cannot be used with option '--jwks <url>'/],
      [['serve', '--models', join(dir, 'nowhere.js')], new RegExp(`There is no file ${join(dir, 'nowhere.js')}`)],
      [['serve', '--static', join(dir, 'no-dist')], new RegExp(`There is no directory ${join(dir, 'no-dist')}`)],
      [['compact', '--keep', 'forever'], /'--keep <duration>' argument 'forever' is invalid/],
      [['files', 'sync', dir, '--db', 'notes', '--watch', '5'], /'--watch <ms>' argument '5' is invalid\. It must be a whole number, at least 100/],
    ]
    for (const [args, message] of refused) {
      const r = await tidepool(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(message)
    }
  })

  it('names the file or the address it could not open', async () => {
    const missing = join(dir, 'no-such-dir', 'app.db')
    expect(await tidepool(['serve', '--port', '0', '--db', missing])).toMatchObject({ code: 1, stderr: expect.stringContaining(`cannot open ${missing}: Cannot open database because the directory does not exist`) })
    expect(await tidepool(['compact', '--db', missing, '--keep', '1d'])).toMatchObject({ code: 1, stderr: expect.stringContaining(`cannot open ${missing}`) })
    // port 9 on loopback: nothing listens there
    expect(await tidepool(['serve', '--port', '0', '--db', 'postgres://postgres@127.0.0.1:9/test'])).toMatchObject({ code: 1, stderr: expect.stringContaining('ECONNREFUSED 127.0.0.1:9') })
  })

  it('loads --models from TypeScript through tsx, and says how when it cannot', async () => {
    const project = join(dir, 'app')
    mkdirSync(project, { recursive: true })
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }')
    const models = `import { Model, S } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../dist/index.js')).href)}
export class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str }
}
export const schemaVersion: number = 2
`
    writeFileSync(join(project, 'models.ts'), models)
    const out = await listens(['--port', '0', '--models', join(project, 'models.ts')])
    expect(out).not.toContain('No --models given')
    // outside a "type": "module" package a .ts file loads as CommonJS
    writeFileSync(join(dir, 'models.ts'), models)
    expect(await tidepool(['serve', '--port', '0', '--models', join(dir, 'models.ts')])).toMatchObject({ code: 1, stderr: expect.stringMatching(/loads as CommonJS .* name it \.mts, or set "type": "module"/) })
  })

  it('listens on PORT when no --port is given', async () => {
    const out = await listens([], { PORT: '0' })
    expect(out).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/)
    expect(await tidepool(['serve', '--db', join(dir, 'p.db')], { PORT: 'eighty' })).toMatchObject({ code: 2, stderr: expect.stringMatching(/'--port <n>' value 'eighty' from env 'PORT' is invalid/) })
  })

  it('compacts once, showing each kind of row it forgets as plain lines off a terminal', async () => {
    const file = join(dir, 'compact.db')
    const { createServer } = await import('tidepool/server')
    const server = await createServer({ storage: file, port: 0 })
    const push = (seq: number, op: object) =>
      fetch(`${server.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'push', v: 1, clientId: 'c', mutations: [{ seq, id: `m${seq}`, ops: [op], preconditions: [], schemaVersion: 1 }] }) })
    expect((await push(1, { type: 'create', collection: 'Note', id: 'n1', data: { id: 'n1' } })).status).toBe(200)
    expect((await push(2, { type: 'delete', collection: 'Note', id: 'n1' })).status).toBe(200)
    await server.close()

    const r = await tidepool(['compact', '--db', file, '--keep', '0s'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/forgot 1 tombstones/)
    // stderr is a pipe here: a line as each kind starts and as it ends
    expect(r.stderr.split('\n')).toEqual(expect.arrayContaining(['tombstones 0/1 rows', 'tombstones 1/1 rows', 'ended memberships 0/0 rows']))
  })
})
