import fc from 'fast-check'
import { SignJWT } from 'jose'
import { stableStringify } from '../../src/core/json.js'
import { memoryStorage } from '../../src/index.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { Replica } from '../../src/replica/replica.js'
import { SyncEngine } from '../../src/sync/engine.js'
import { httpTransport } from '../../src/sync/transport.js'

/**
 * Structure-aware hostile requests for a Tidepool server: pushes and pulls
 * whose JSON is written as text, so that it can hold what no JavaScript
 * object produces (1e309, "__proto__" keys, lone surrogates, nesting
 * thousands deep), with bad bodies, content types and tokens beside them.
 */
export const SECRET = 'fuzz-secret'
const key = new TextEncoder().encode(SECRET)
/** The fuzz servers' admin, who reads every realm. */
export const AUDITOR = 'auditor'

export const token = (sub: unknown = 'fuzzer', alg = 'HS256', exp: string | undefined = '1h') => {
  const jwt = new SignJWT(sub === undefined ? {} : { sub: sub as string }).setProtectedHeader({ alg })
  if (exp) jwt.setExpirationTime(exp)
  return jwt.sign(key)
}

const q = (s: string) => JSON.stringify(s)
const hostileChar = fc.oneof(
  { weight: 60, arbitrary: fc.string({ minLength: 1, maxLength: 1 }) },
  fc.integer({ min: 0xd800, max: 0xdfff }).map(c => String.fromCharCode(c)),
  fc.constantFrom('\u0000', '\u0001', '"', '\\', '\u2028', '😀', '\uffff'),
)
const hostileString = fc.oneof(
  { weight: 30, arbitrary: fc.string({ unit: hostileChar, maxLength: 24 }) },
  fc.constantFrom('__proto__', 'constructor', 'prototype', ''),
  fc.integer({ min: 1000, max: 200_000 }).map(n => 'x'.repeat(n)),
)
const numberText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(n => JSON.stringify(n)),
  fc.integer().map(String),
  fc.constantFrom('1e308', '-1e308', '1e309', '-1e309', '5e-324', '9007199254740993', '9223372036854775808', '1e300', '-0', '0.1'),
)
/** Nesting far past any limit, as arrays or objects. */
const deepText = fc.tuple(fc.integer({ min: 30, max: 12_000 }), fc.boolean()).map(([n, arrays]) => (arrays ? '['.repeat(n) + '1' + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n)))

const { value: valueText } = fc.letrec<{ value: string; object: string }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText,
    hostileString.map(q),
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('value'), { maxLength: 4 }).map(xs => `[${xs.join(',')}]`),
    tie('object'),
  ),
  object: fc.array(fc.tuple(hostileString, tie('value')), { maxLength: 4 }).map(kv => `{${kv.map(([k, v]) => `${q(k)}:${v}`).join(',')}}`),
}))

const collectionText = fc.oneof({ weight: 8, arbitrary: fc.constant(q('Fz')) }, hostileString.map(q))
const docIdText = fc.oneof({ weight: 4, arbitrary: fc.uuid().map(q) }, hostileString.map(q))
const pathText = fc.array(hostileString, { minLength: 1, maxLength: 3 }).map(p => JSON.stringify(p))

/** One op on document `id` of collection `c` (texts). */
const opText = (c: string, id: string) =>
  fc.oneof(
    fc.tuple(pathText, fc.oneof(valueText, deepText)).map(([p, v]) => `{"type":"set","collection":${c},"id":${id},"path":${p},"value":${v}}`),
    fc.tuple(pathText, numberText).map(([p, n]) => `{"type":"increment","collection":${c},"id":${id},"path":${p},"by":${n}}`),
    fc.tuple(pathText, fc.array(valueText, { maxLength: 3 })).map(([p, vs]) => `{"type":"arrayUnion","collection":${c},"id":${id},"path":${p},"values":[${vs.join(',')}]}`),
    fc.constant(`{"type":"delete","collection":${c},"id":${id}}`),
  )

/** What a request should do, kept to check the server's state afterwards. */
export interface FuzzRequest {
  path: '/v1/push' | '/v1/pull' | '/health'
  body: string
  contentType: string
  token: 'good' | 'none' | 'garbage' | 'no-exp' | 'hs512' | 'expired' | 'numeric-sub'
  /** A lone create that, if applied, must come back exactly: [collection, id, data as JSON text]. */
  creates?: Array<[string, string, string]>
  clientId?: string
}

const createText = fc.tuple(collectionText, docIdText, fc.oneof({ weight: 5, arbitrary: valueText.filter(v => v.startsWith('{')) }, deepText.map(d => `{"d":${d}}`)))

const mutationText = (seq: string) =>
  fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.uuid().map(q) }, hostileString.map(q)), createText, fc.array(fc.constant(0), { maxLength: 2 }), fc.oneof({ weight: 12, arbitrary: fc.constantFrom('1', '2') }, fc.constantFrom('0', '9007199254740993'))).chain(([mid, [c, id, data], extra, schemaVersion]) =>
    fc.tuple(...extra.map(() => opText(c, id))).map(ops => ({
      text: `{"seq":${seq},"id":${mid},"ops":[${[`{"type":"create","collection":${c},"id":${id},"data":${data}}`, ...ops].join(',')}],"preconditions":[],"schemaVersion":${schemaVersion}}`,
      create: ops.length === 0 && schemaVersion !== '0' && schemaVersion !== '9007199254740993' ? ([c, id, data] as [string, string, string]) : undefined,
    })),
  )

const pushRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.oneof({ weight: 6, arbitrary: fc.uuid() }, hostileString), fc.oneof({ weight: 6, arbitrary: fc.constant('1') }, numberText), fc.integer({ min: 1, max: 3 }))
  .chain(([clientId, seq, n]) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => mutationText(i === 0 ? seq : String(Number(seq) + i)))).map(ms => ({
      path: '/v1/push' as const,
      body: `{"type":"push","v":${PROTOCOL_VERSION},"clientId":${q(clientId)},"mutations":[${ms.map(m => m.text).join(',')}]}`,
      contentType: 'application/json',
      token: 'good' as const,
      // only the first mutation of a new client is sure to apply as sequence 1
      creates: seq === '1' && ms[0]!.create ? [ms[0]!.create] : [],
      clientId,
    })),
  )

const pullRequest: fc.Arbitrary<FuzzRequest> = fc.tuple(hostileString, fc.oneof(numberText, fc.constantFrom('"7"', 'null', '-1', '[]'))).map(([clientId, since]) => ({
  path: '/v1/pull',
  body: `{"type":"pull","v":${PROTOCOL_VERSION},"clientId":${q(clientId)},"since":${since}}`,
  contentType: 'application/json',
  token: 'good',
}))

/** Bodies that are not what they claim, and tokens that should not pass. */
const brokenRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  fc.tuple(pushRequest, fc.nat()).map(([r, cut]) => ({ ...r, body: r.body.slice(0, cut % (r.body.length + 1)), creates: [] })),
  pushRequest.map(r => ({ ...r, body: r.body.replace('"mutations":[', '"mutations":[{"__proto__":{"x":1}},'), creates: [] })),
  pushRequest.map(r => ({ ...r, contentType: 'text/plain', creates: [] })),
  fc.tuple(pushRequest, fc.constantFrom<FuzzRequest['token']>('none', 'garbage', 'no-exp', 'hs512', 'expired')).map(([r, t]) => ({ ...r, token: t, creates: [] })),
  pushRequest.map(r => ({ ...r, token: 'numeric-sub' as const })),
  fc.constant<FuzzRequest>({ path: '/v1/push', body: '{"x":"' + 'y'.repeat(9 * 1024 * 1024) + '"}', contentType: 'application/json', token: 'good' }),
  fc.constant<FuzzRequest>({ path: '/v1/push', body: '[]'.repeat(10), contentType: 'application/json; charset=latin1', token: 'good' }),
)

export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof({ weight: 6, arbitrary: pushRequest }, { weight: 2, arbitrary: pullRequest }, { weight: 2, arbitrary: brokenRequest })

async function bearer(kind: FuzzRequest['token']): Promise<string | undefined> {
  switch (kind) {
    case 'none':
      return undefined
    case 'garbage':
      return 'not.a.token'
    case 'no-exp':
      return token('fuzzer', 'HS256', undefined)
    case 'hs512':
      return token('fuzzer', 'HS512')
    case 'expired':
      return token('fuzzer', 'HS256', '-1h')
    case 'numeric-sub':
      return token(12345)
    default:
      return token()
  }
}

export interface FuzzOutcome {
  statuses: Map<number, number>
  /** Lone creates the server applied: they must come back exactly. */
  accepted: Array<[collection: string, id: string, data: string]>
}

/** Sends one request; returns its status and what it applied. */
export async function send(base: string, r: FuzzRequest, outcome: FuzzOutcome): Promise<number> {
  const t = await bearer(r.token)
  const res = await fetch(base + r.path, { method: r.path === '/health' ? 'GET' : 'POST', headers: { 'content-type': r.contentType, ...(t ? { authorization: `Bearer ${t}` } : {}) }, ...(r.path === '/health' ? {} : { body: r.body }) })
  const text = await res.text()
  outcome.statuses.set(res.status, (outcome.statuses.get(res.status) ?? 0) + 1)
  if (res.status === 200 && r.path === '/v1/push' && r.creates?.length) {
    const answer = JSON.parse(text) as { results: Array<{ seq: number; status: string }> }
    if (answer.results[0]?.seq === 1 && answer.results[0].status === 'applied') {
      // a create without a realm lands in its writer's private realm
      const realmId = r.token === 'numeric-sub' ? '12345' : 'fuzzer'
      for (const [c, id, data] of r.creates) outcome.accepted.push([JSON.parse(c) as string, JSON.parse(id) as string, JSON.stringify({ realmId, ...(JSON.parse(data) as object) })])
    }
  }
  return res.status
}

/**
 * A fresh replica syncs from the server after the fuzzing: every lone create
 * the server applied must be there, as written (compared with keys sorted).
 * Returns the documents that differ.
 */
export async function freshReplicaMismatches(url: string, accepted: FuzzOutcome['accepted']): Promise<string[]> {
  const replica = await Replica.open(memoryStorage(), { collections: [], schemaVersion: 1 })
  // a server admin reads every realm, so every user's documents
  const engine = new SyncEngine(replica, httpTransport(url, () => token(AUDITOR)), { pollInterval: 0, retry: false })
  try {
    await engine.runRound()
    const docs = new Map((await replica.allDocs()).map(d => [`${d.collection}\0${d.id}`, d.data]))
    const wrong: string[] = []
    for (const [c, id, data] of accepted) {
      const got = docs.get(`${c}\0${id}`)
      if (got === undefined || stableStringify(got) !== stableStringify(JSON.parse(data))) wrong.push(`${c} ${JSON.stringify(id).slice(0, 60)}: ${got === undefined ? 'missing' : stableStringify(got).slice(0, 120)} ≠ ${data.slice(0, 120)}`)
    }
    return wrong
  } finally {
    await engine.stop()
    await replica.close()
  }
}
