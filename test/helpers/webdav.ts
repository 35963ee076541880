import { createServer, type AddressInfo } from 'node:net'
import { v2 as webdav } from 'webdav-server'

/** A real WebDAV server (webdav-server from npm, in memory) with one user, on a free loopback port. */
export interface Webdav {
  url: string
  username: string
  password: string
  close(): Promise<void>
}

/** A port nobody listens on now (webdav-server takes 0 for its default, 1900). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

export async function startWebdav(): Promise<Webdav> {
  const users = new webdav.SimpleUserManager()
  const user = users.addUser('tidepool', 'secret-password', false)
  const privileges = new webdav.SimplePathPrivilegeManager()
  privileges.setRights(user, '/', ['all'])
  const server = new webdav.WebDAVServer({
    hostname: '127.0.0.1',
    httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'tidepool'),
    privilegeManager: privileges,
  })
  const port = await freePort()
  await new Promise<void>(resolve => server.start(port, () => resolve()))
  return {
    url: `http://127.0.0.1:${port}`,
    username: 'tidepool',
    password: 'secret-password',
    close: () => new Promise<void>(resolve => server.stop(() => resolve())),
  }
}
