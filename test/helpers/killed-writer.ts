import { spawn } from 'node:child_process'

/**
 * Runs a writer script (with tsx) that prints "ok N" after each committed
 * transaction, SIGKILLs it `killAfterMs` after its first report, and resolves
 * with the transactions it reported.
 */
export function runUntilKilled(script: string, args: string[], killAfterMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked: number[] = []
    let buffer = ''
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const line of lines) if (line.startsWith('ok ')) acked.push(Number(line.slice(3)))
      timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('exit', (_code, signal) => {
      clearTimeout(timer)
      if (signal === 'SIGKILL') resolve(acked)
      else reject(new Error(`writer exited without being killed: ${stderr}`))
    })
  })
}
