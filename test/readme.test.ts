import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, it } from 'vitest'

// Every ```ts block of the README and of docs/ runs as written, importing the built
// package ('tidepool' resolves to this repository's dist/ through its exports);
// ```typescript blocks are shown, not run (browser code, test files).
const root = join(import.meta.dirname, '..')
const dir = join(root, 'test', '.readme')
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter(f => f.endsWith('.md')).map(f => join('docs', f))]
const blocks = pages.flatMap(page => [...readFileSync(join(root, page), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1]!))

describe('README and docs examples', () => {
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
