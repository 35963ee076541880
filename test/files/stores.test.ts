import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { folderStore } from '../../src/files/folder.js'
import { memoryFileStore, type FileStore } from '../../src/files/store.js'
import { webdavStore } from '../../src/files/webdav.js'
import { describeFileStore } from '../../src/testing/file-store.js'
import { startWebdav, type Webdav } from '../helpers/webdav.js'

let dav: Webdav
let dir: string
beforeAll(async () => {
  dav = await startWebdav()
  dir = mkdtempSync(join(tmpdir(), 'tidepool-folder-'))
})
afterAll(async () => {
  await dav?.close()
  rmSync(dir, { recursive: true, force: true })
})

const stores: Array<{ name: string; make: () => FileStore }> = [
  { name: 'memory', make: () => memoryFileStore() },
  { name: 'folder', make: () => folderStore(join(dir, String(Math.random()))) },
  { name: 'webdav', make: () => webdavStore(`${dav.url}/${Math.random().toString(36).slice(2)}`, { username: dav.username, password: dav.password }) },
]

for (const factory of stores) describeFileStore(factory, { describe, it, beforeEach, afterEach })

describe('folder store', () => {
  it('renames into place, leaving no temporary files, and refuses paths outside it', async () => {
    const root = join(dir, 'atomic')
    const s = folderStore(root)
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.write('f/x.json', JSON.stringify({ i, pad: 'x'.repeat(10_000) }))))
    expect(JSON.parse((await s.read('f/x.json'))!).pad).toHaveLength(10_000)
    expect(readdirSync(join(root, 'f'))).toEqual(['x.json'])
    await expect(s.read('../escape.json')).rejects.toThrow(/outside the store/)
  })
})

describe('webdav store', () => {
  it('reports a refused login clearly', async () => {
    const s = webdavStore(`${dav.url}/x`, { username: dav.username, password: 'wrong' })
    await expect(s.write('a.json', '{}')).rejects.toThrow(/WebDAV MKCOL .* 401/)
  })
})
