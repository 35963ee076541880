import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { progress } from '../../src/cli/progress.js'

/** A stream that says it is a terminal, as cli-progress needs one. */
function terminal(): NodeJS.WriteStream & { text(): string } {
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += d.toString()))
  return Object.assign(out, { isTTY: true, columns: 100, rows: 30, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true, text: () => text }) as unknown as NodeJS.WriteStream & { text(): string }
}

describe('progress on long work', () => {
  it('draws a bar per phase on a terminal', async () => {
    const tty = terminal()
    const p = progress('parts', tty)
    p.step({ phase: 'download', done: 0, total: 4 })
    p.step({ phase: 'download', done: 4, total: 4 })
    p.step({ phase: 'upload', done: 1, total: 2 })
    p.stop()
    await new Promise(r => setImmediate(r))
    expect(tty.text()).toMatch(/download \[[█░]+\] 4\/4 parts/)
    expect(tty.text()).toMatch(/upload \[[█░]+\] 1\/2 parts/)
  })

  it('prints plain lines elsewhere: when a phase starts, when it ends, and at most one a second between', () => {
    const lines: string[] = []
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream
    const p = progress('documents', stream)
    for (let done = 0; done <= 1000; done += 100) p.step({ phase: 'sync', done, total: 1000 })
    p.step({ phase: 'index', done: 5, total: 10 })
    p.stop()
    expect(lines).toEqual(['sync 0/1000 documents\n', 'sync 1000/1000 documents\n', 'index 5/10 documents\n'])
  })
})
