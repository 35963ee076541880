import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, it } from 'vitest'

// Every ```ts block of the README runs as written, importing the built package
// ('tidepool' resolves to this repository's dist/ through its exports).
const root = join(import.meta.dirname, '..')
const dir = join(root, 'test', '.readme')
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1]!)

describe('README examples', () => {
  mkdirSync(dir, { recursive: true })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  blocks.forEach((code, i) => {
    const firstLine = code.split('\n').find(l => l.trim() && !l.startsWith('import')) ?? ''
    it(`block ${i + 1}: ${firstLine.slice(0, 60)}`, async () => {
      const file = join(dir, `block-${i + 1}.ts`)
      writeFileSync(file, `${code}\nexport {}\n`)
      await import(pathToFileURL(file).href)
    })
  })
})
