'use strict'
// What tfo puts on the wire, seen by tcpdump on `lo` inside this file's
// private network namespace (net.ipv4.tcp_fastopen=3): the returning
// connection's SYN carries the request bytes and the cookie, the first SYN
// asks for a cookie, the SYN-ACK brings it; a plain net client never puts
// data (or a TFO option) in its SYN; a client that speaks second sends a
// cookie-only SYN and still connects. tcpdump is required (CI installs it);
// when it is missing the tests fail, they are not skipped. Run as root (as CI
// does): in helpers/netns.js's unprivileged user-namespace fallback tcpdump
// cannot switch to its "tcpdump" user (setgroups is denied there) and exits,
// which fails these tests with tcpdump's message.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const net = require('node:net')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')

const { haveTcpdump, capture, synsTo, synAckTo, dataFrom } = require('./helpers/wire')

t.test('a returning tfo connection sends its request in the SYN, with the cookie the first SYN-ACK gave', async (t) => {
  if (!haveTcpdump(t)) return
  const host = '127.0.0.40'
  const seen = []
  const server = tfo.createServer(
    sinkServer((s, data) => {
      seen.push({ synData: s.fastOpen?.synData, data: data.toString() })
      return 'ok'
    }),
  )
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  const requests = ['GET /first HTTP/1.0\r\n\r\n', 'GET /second/request HTTP/1.0\r\nHost: tfo.test\r\n\r\n']
  const infos = []
  const packets = await capture(t, port, async () => {
    for (const req of requests) {
      const s = tfo.connect(port, host)
      s.end(req)
      const r = await collect(s)
      t.equal(r.data.toString(), 'ok')
      infos.push(s.fastOpen)
    }
  })
  t.same(seen, [
    { synData: false, data: requests[0] },
    { synData: true, data: requests[1] },
  ])
  t.match(infos[1], { cookie: 'sent', synData: true, synDataBytes: requests[1].length })

  const syns = synsTo(packets, port)
  t.equal(syns.length, 2, 'two connections, two SYNs (no SYN retransmitted)')
  const [syn1, syn2] = syns

  // First contact: an empty SYN that asks for a cookie.
  t.equal(syn1.length, 0, 'first SYN: length 0')
  t.equal(syn1.payload.length, 0)
  t.match(syn1.text, /options \[[^\]]*tfo\s+cookiereq[^\]]*\]/, 'first SYN: tcpdump shows "tfo cookiereq"')
  t.ok(syn1.tfo && syn1.tfo.data.length === 0, 'first SYN: TFO option (kind 34) with no cookie')
  const synAck1 = synAckTo(packets, syn1)
  t.ok(synAck1, 'first SYN-ACK captured')
  const cookieText = /tfo\s+cookie ([0-9a-f]+)/.exec(synAck1.text)
  t.ok(cookieText, 'first SYN-ACK: tcpdump shows "tfo cookie ..."')
  t.ok(synAck1?.tfo?.data.length >= 4, `SYN-ACK carries a cookie (${synAck1?.tfo?.data.length ?? 'no'} bytes)`)
  t.equal(synAck1?.tfo?.data.toString('hex'), cookieText?.[1])
  const data1 = dataFrom(packets, syn1)
  t.equal(Buffer.concat(data1.map((p) => p.payload)).toString(), requests[0], 'first request went after the handshake')

  // Returning: the request rides in the SYN, with that cookie.
  t.equal(syn2.length, requests[1].length, `returning SYN: length ${requests[1].length} (the request)`)
  t.equal(syn2.payload.toString(), requests[1], 'returning SYN: its payload is the request, byte for byte')
  t.match(syn2.text, new RegExp(`seq ${syn2.seq}:${(syn2.seq + requests[1].length) >>> 0},`), "tcpdump shows the SYN's data sequence range")
  t.ok(syn2.tfo, 'returning SYN: TFO option')
  const cookie = synAck1?.tfo?.data.toString('hex')
  t.equal(syn2.tfo?.data.toString('hex'), cookie, 'returning SYN: the cookie from the first SYN-ACK')
  t.match(syn2.text, new RegExp(`tfo\\s+cookie ${cookie}`))
  const synAck2 = synAckTo(packets, syn2)
  t.equal(synAck2?.ack, (syn2.seq + 1 + requests[1].length) >>> 0, 'the SYN-ACK acknowledges the SYN data')
  t.same(
    dataFrom(packets, syn2).map((p) => p.payload.toString()),
    [],
    'the request is not sent again after the handshake',
  )
})

t.test('plain net (and tfo with fastOpen: false) never put data or a TFO option in the SYN, even with a cookie cached', async (t) => {
  if (!haveTcpdump(t)) return
  const host = '127.0.0.41'
  const seen = []
  const server = tfo.createServer(
    sinkServer((s, data) => {
      seen.push(s.fastOpen?.synData)
      return data
    }),
  )
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  const warm = tfo.connect(port, host)
  warm.end('get a cookie for this address')
  await collect(warm)
  seen.length = 0
  const sent = []
  const packets = await capture(t, port, async () => {
    for (let i = 0; i < 4; i++) {
      const s = i < 3 ? net.connect(port, host) : tfo.connect({ port, host, fastOpen: false })
      const msg = `plain request ${i}`
      s.end(msg) // written at once, before 'connect'
      const r = await collect(s)
      t.equal(r.data.toString(), msg)
      sent.push(msg)
    }
  })
  const syns = synsTo(packets, port)
  t.equal(syns.length, 4)
  for (const [i, syn] of syns.entries()) {
    t.equal(syn.length, 0, `SYN ${i}: length 0`)
    t.equal(syn.payload.length, 0)
    t.equal(syn.tfo, null, `SYN ${i}: no TFO option`)
    t.notMatch(syn.text, /tfo/)
    t.equal(Buffer.concat(dataFrom(packets, syn).map((p) => p.payload)).toString(), sent[i], `connection ${i}: data after the handshake`)
  }
  t.same(seen, [false, false, false, false])
})

t.test('a client that speaks second: cookie-only SYN, no data in it, and the connection works', async (t) => {
  if (!haveTcpdump(t)) return
  const host = '127.0.0.42'
  const seen = []
  const server = tfo.createServer((s) => {
    seen.push(s.fastOpen?.synData)
    s.write('220 ready\r\n') // the server speaks first
    let got = ''
    s.on('data', (d) => {
      got += d
      if (got.endsWith('\r\n')) s.end(`221 bye ${got.trim()}\r\n`)
    })
    s.on('error', () => {})
  })
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)

  const greetClient = (name) =>
    new Promise((resolve) => {
      const s = tfo.connect(port, host)
      const events = []
      let text = ''
      let connectInfo
      s.on('connect', () => {
        events.push('connect')
        connectInfo = { ...s.fastOpen, bytesWritten: s.bytesWritten }
      })
      s.on('data', (d) => {
        if (!text) {
          events.push('greeting')
          s.write(`HELO ${name}\r\n`)
        } // writes only after the server spoke
        text += d
      })
      s.on('end', () => {
        events.push('end')
        s.end()
      })
      s.on('error', (e) => events.push(`error ${e.code}`))
      s.on('close', () => resolve({ events, text, connectInfo, socket: s }))
    })
  let counters
  const results = []
  const packets = await capture(t, port, async () => {
    results.push(await greetClient('one'))
    counters = tfo.counters()
    results.push(await greetClient('two'))
    counters = tfo.diffCounters(counters, tfo.counters())
  })
  for (const [i, r] of results.entries()) {
    const name = ['one', 'two'][i]
    t.same(r.events, ['connect', 'greeting', 'end'], `connection ${i}: 'connect', then the greeting, then the end`)
    t.equal(r.text, `220 ready\r\n221 bye HELO ${name}\r\n`, `connection ${i}: the whole conversation`)
  }
  t.match(results[0].connectInfo, { cookie: 'requested', synDataBytes: 0, synData: false })
  t.match(
    results[1].connectInfo,
    { attempted: true, cookie: 'sent', synDataBytes: 0, synData: false, bytesWritten: 0 },
    "returning: 'connect' fired with nothing sent in the SYN",
  )
  t.same(seen, [false, false], 'the server saw no SYN data either time')
  t.match(counters, { passive: 1, passiveFail: 0, activeFail: 0 }, 'the cookie-only SYN was still a valid TFO open')

  const syns = synsTo(packets, port)
  t.equal(syns.length, 2, 'one SYN per connection: nothing retransmitted, no stall')
  t.match(syns[0].text, /tfo\s+cookiereq/)
  const synAck1 = synAckTo(packets, syns[0])
  t.ok(synAck1 && synAck1.tfo && synAck1.tfo.data.length > 0, 'first SYN-ACK brings a cookie')
  t.equal(syns[1].length, 0, 'returning SYN: length 0')
  t.equal(syns[1].payload.length, 0)
  t.ok(syns[1].tfo, 'returning SYN: TFO option')
  t.equal(syns[1].tfo?.data.toString('hex'), synAck1?.tfo?.data.toString('hex'), 'returning SYN: carries the cookie')
  t.match(syns[1].text, /tfo\s+cookie [0-9a-f]+/)
  t.equal(synAckTo(packets, syns[1])?.ack, (syns[1].seq + 1) >>> 0, 'the SYN-ACK acknowledges the SYN alone')
  t.equal(Buffer.concat(dataFrom(packets, syns[1]).map((p) => p.payload)).toString(), 'HELO two\r\n', "the client's bytes went after the greeting")
})
