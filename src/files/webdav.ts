import { InvalidParameterError, StorageError } from '../core/errors.js'
import type { FileStore } from './store.js'

/** How to reach a WebDAV share: Basic credentials, extra headers, a timeout. */
export interface WebdavOptions {
  /** With `password`: HTTP Basic authentication on every request. */
  username?: string
  password?: string
  /** Extra headers on every request (a bearer token, say). */
  headers?: Record<string, string>
  /** How long one request may take, in ms, body included (default 60,000). */
  timeout?: number
}

/**
 * A WebDAV share (Nextcloud, ownCloud, a NAS, Apache mod_dav…), spoken over
 * fetch. Writes go to a temporary name and are MOVEd into place, so readers
 * never see half a file; folders are made (MKCOL) as needed.
 */
export function webdavStore(url: string, options: WebdavOptions = {}): FileStore {
  let base: URL
  try {
    base = new URL(url.endsWith('/') ? url : `${url}/`)
  } catch {
    throw new InvalidParameterError('url', `webdavStore needs an http(s) URL, got ${url}`)
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new InvalidParameterError('url', `webdavStore needs an http(s) URL, got ${url}`)
  const headers: Record<string, string> = { ...options.headers }
  if (options.username !== undefined) headers.authorization = `Basic ${btoa(`${options.username}:${options.password ?? ''}`)}`
  const made = new Set<string>()

  const at = (path: string) => new URL(path.split('/').map(encodeURIComponent).join('/'), base)
  async function call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    let res: Response
    try {
      // a request that hangs would hold the round (and the other tabs' rounds) forever
      res = await fetch(at(path), { method, body: init.body, headers: { ...headers, ...init.headers }, signal: AbortSignal.timeout(options.timeout ?? 60_000) })
    } catch (e) {
      throw new StorageError('unavailable', `WebDAV ${method} ${at(path).href}: ${(e as Error).message}`, { cause: e })
    }
    return res
  }
  const fail = async (res: Response, method: string, path: string): Promise<never> => {
    const body = await res.text().catch(() => '')
    throw new StorageError('unavailable', `WebDAV ${method} ${at(path).href}: ${res.status} ${res.statusText}${body ? `: ${body.slice(0, 200)}` : ''}`)
  }

  /** Makes the folder and its parents within the share ('' is the share's own folder, made if missing). */
  async function ensureFolder(folder: string): Promise<void> {
    if (made.has(folder)) return
    if (folder !== '') await ensureFolder(folder.split('/').slice(0, -1).join('/'))
    const res = await call('MKCOL', folder === '' ? '' : `${folder}/`)
    await res.text()
    // 405: it exists already
    if (!res.ok && res.status !== 405) await fail(res, 'MKCOL', `${folder}/`)
    made.add(folder)
  }

  async function listFolder(folder: string, out: string[]): Promise<void> {
    const res = await call('PROPFIND', folder, { headers: { depth: '1', 'content-type': 'application/xml' }, body: '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>' })
    if (res.status === 404) return void (await res.text())
    if (res.status !== 207) await fail(res, 'PROPFIND', folder)
    const xml = await res.text()
    const here = at(folder).pathname
    for (const part of xml.split(/<(?:[A-Za-z0-9]+:)?response[\s>]/).slice(1)) {
      const href = /<(?:[A-Za-z0-9]+:)?href>([^<]*)</.exec(part)?.[1]
      if (!href) continue
      const path = decodeURIComponent(new URL(href, base).pathname)
      const decodedHere = decodeURIComponent(here)
      if (path === decodedHere || `${path}/` === decodedHere || path === decodedHere.replace(/\/$/, '')) continue
      const rel = path.slice(decodeURIComponent(base.pathname).length)
      if (/<(?:[A-Za-z0-9]+:)?collection\s*\/?>/.test(part)) await listFolder(rel.endsWith('/') ? rel : `${rel}/`, out)
      else out.push(rel)
    }
  }

  return {
    url: base.href,
    async list(prefix) {
      const out: string[] = []
      await listFolder(prefix, out)
      return out.filter(p => !p.split('/').at(-1)!.startsWith('.tidepool-tmp-')).sort()
    },
    async read(path) {
      const res = await call('GET', path)
      if (res.status === 404) return void (await res.text())
      if (!res.ok) await fail(res, 'GET', path)
      return res.text()
    },
    async write(path, data) {
      const folder = path.split('/').slice(0, -1).join('/')
      await ensureFolder(folder)
      const temp = `${folder ? `${folder}/` : ''}.tidepool-tmp-${globalThis.crypto.randomUUID()}`
      const put = await call('PUT', temp, { body: data, headers: { 'content-type': 'application/json' } })
      await put.text()
      if (!put.ok) await fail(put, 'PUT', temp)
      const move = await call('MOVE', temp, { headers: { destination: at(path).href, overwrite: 'T' } })
      await move.text()
      if (!move.ok) await fail(move, 'MOVE', temp)
    },
    async readVersioned(path) {
      const res = await call('GET', path)
      if (res.status === 404) return void (await res.text())
      if (!res.ok) await fail(res, 'GET', path)
      return { text: await res.text(), version: res.headers.get('etag') ?? undefined }
    },
    // a conditional PUT in place (If-Match / If-None-Match): servers that keep ETags refuse a stale one with 412
    async writeIfUnchanged(path, data, version) {
      await ensureFolder(path.split('/').slice(0, -1).join('/'))
      const res = await call('PUT', path, { body: data, headers: { 'content-type': 'application/json', ...(version === undefined ? { 'if-none-match': '*' } : { 'if-match': version }) } })
      await res.text()
      if (res.status === 412) return false
      if (!res.ok) await fail(res, 'PUT', path)
      return true
    },
    async delete(path) {
      const res = await call('DELETE', path)
      await res.text()
      if (!res.ok && res.status !== 404) await fail(res, 'DELETE', path)
    },
  }
}
