import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

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

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')

describe('README and docs links', () => {
  it('every relative link names a file that is there, and every #anchor a heading in it', () => {
    const broken: string[] = []
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8').replace(/```[\s\S]*?```/g, '')
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue
        const [path, anchor] = target!.split('#') as [string, string | undefined]
        // the API reference is built by npm run docs, not kept in the repository
        if (path.startsWith('api/') || path.startsWith('docs/api/')) continue
        const file = path ? join(root, dirname(page), path) : join(root, page)
        let body: string
        try {
          body = readFileSync(file, 'utf8')
        } catch {
          broken.push(`${page}: ${target} (no such file)`)
          continue
        }
        if (anchor && file.endsWith('.md')) {
          const anchors = [...body.replace(/```[\s\S]*?```/g, '').matchAll(/^#+ (.+)$/gm)].map(m => anchorOf(m[1]!.replace(/`/g, '')))
          if (!anchors.includes(anchor)) broken.push(`${page}: ${target} (no heading #${anchor})`)
        }
      }
    }
    expect(broken).toEqual([])
  })
})
