import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js')

/** `tidepool serve` as a process of its own, so the clients measuring it do not share its event loop. */
export async function serve(db: string, args: string[] = []): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', db, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.once('exit', code => reject(new Error(`server exited (${code})`)))
  })
  const stop = async () => {
    if (child.exitCode !== null) return
    const exited = new Promise(r => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
  }
  return { child, url, stop }
}
