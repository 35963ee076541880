import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js')

/** Starts `tidepool serve` (the built CLI) as a child process; resolves with its URL once it listens. */
export function serveCli(db: string, port = 0, args: readonly string[] = []): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--db', db, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m) resolve({ child, url: m[1]! })
    })
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', code => reject(new Error(`server exited (${code}): ${err}`)))
  })
}
