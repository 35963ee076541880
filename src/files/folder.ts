import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { InvalidParameterError } from '../core/errors.js'
import type { FileStore } from './store.js'

/** Temporary files carry this mark until they are renamed into place; listings leave them out. */
const TEMP = '.tidepool-tmp-'

/**
 * A local folder, or one a sync client (Dropbox, Syncthing, a NAS mount)
 * keeps in step with other machines. Writes go to a temporary name and are
 * renamed into place, so a reader never sees half a file written here (a
 * sync client may still deliver one: readers are ready for that).
 */
export function folderStore(path: string): FileStore {
  if (typeof path !== 'string' || path === '') throw new InvalidParameterError('path', 'folderStore needs a folder path')
  const root = resolve(path)
  const full = (p: string) => {
    const f = resolve(root, p)
    if (f !== root && !f.startsWith(root + sep)) throw new InvalidParameterError('path', `${p} is outside the store`)
    return f
  }
  return {
    url: pathToFileURL(root).href,
    async list(prefix) {
      let entries
      try {
        entries = await readdir(full(prefix || '.'), { recursive: true, withFileTypes: true })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw e
      }
      return entries
        .filter(e => e.isFile() && !e.name.startsWith(TEMP))
        .map(e => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
        .sort()
    },
    async read(p) {
      try {
        return await readFile(full(p), 'utf8')
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENOENT' || code === 'EISDIR') return undefined
        throw e
      }
    },
    async write(p, data) {
      const target = full(p)
      await mkdir(dirname(target), { recursive: true })
      const temp = join(dirname(target), `${TEMP}${globalThis.crypto.randomUUID()}`)
      await writeFile(temp, data)
      await rename(temp, target)
    },
    async delete(p) {
      await rm(full(p), { force: true })
    },
  }
}
