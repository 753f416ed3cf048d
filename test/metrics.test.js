'use strict'
// Prometheus metrics: standalone text format and prom-client registration,
// both moving with real TFO traffic in a private namespace.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')

async function traffic(t, n, host) {
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  for (let i = 0; i < n; i++) {
    const s = tfo.connect(port, host)
    s.end('metrics')
    await collect(s)
  }
}

function sample(text, name, labels = '') {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

t.test('metricsText: Prometheus text format with library and kernel counts', async (t) => {
  tfo.resetStats()
  await traffic(t, 3, '127.0.0.10')
  const text = tfo.metricsText()
  // Client families carry the cohort (every connection is 'tfo' without a rollout option).
  t.match(
    text,
    /^# HELP tfo_client_connections_total .+\n# TYPE tfo_client_connections_total counter\ntfo_client_connections_total\{cohort="tfo"\} 3\ntfo_client_connections_total\{cohort="control"\} 0\n/m,
  )
  t.equal(sample(text, 'tfo_client_syn_data_acked_total', '{cohort="tfo"}'), 2)
  t.equal(sample(text, 'tfo_client_cookie_requested_total', '{cohort="tfo"}'), 1)
  t.equal(sample(text, 'tfo_client_failures_total', '{cohort="tfo",reason="cookie-unavailable"}'), 1)
  t.equal(sample(text, 'tfo_client_ttfb_seconds_count', '{cohort="tfo",syn_data="true"}'), 2)
  t.equal(sample(text, 'tfo_server_time_saved_connections_total'), 2, 'the server estimated the time each SYN-data connection saved')
  t.ok(sample(text, 'tfo_server_time_saved_seconds_total') > 0)
  t.equal(sample(text, 'tfo_server_accepted_total'), 3)
  t.equal(sample(text, 'tfo_server_syn_data_total'), 2)
  t.equal(sample(text, 'tfo_kernel_tcpext_total', '{counter="TCPFastOpenPassive"}'), tfo.counters().passive)
  t.ok(text.endsWith('\n'))
  // every non-comment line is `name{labels} number`
  for (const line of text
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('#'))) {
    t.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \d+(\.\d+)?(e-\d+)?$/, line)
  }
  const noKernel = tfo.metricsText({ prefix: 'app_tfo_', kernel: false })
  t.notMatch(noKernel, /kernel_tcpext/)
  t.match(noKernel, /^app_tfo_client_connections_total\{cohort="tfo"\} 3$/m)
  t.throws(() => tfo.metricsText({ prefix: 'bad prefix' }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.metricsText('x'), { code: 'ERR_INVALID_ARG_TYPE' })
})

t.test('registerPromClient: values read fresh on each scrape', async (t) => {
  const client = require('prom-client')
  const registry = new client.Registry()
  const names = tfo.registerPromClient(client, { registry })
  t.ok(names.includes('tfo_client_syn_data_acked_total'))
  t.ok(names.includes('tfo_kernel_tcpext_total'))
  tfo.resetStats()
  await traffic(t, 2, '127.0.0.11') // first contact for this address: 1 of 2 with SYN data
  let text = await registry.metrics()
  t.equal(sample(text, 'tfo_client_connections_total', '{cohort="tfo"}'), 2)
  t.equal(sample(text, 'tfo_server_syn_data_total'), 1)
  t.equal(sample(text, 'tfo_kernel_tcpext_total', '{counter="TCPFastOpenActive"}'), tfo.counters().active)
  await traffic(t, 2, '127.0.0.11')
  text = await registry.metrics()
  t.equal(sample(text, 'tfo_client_connections_total', '{cohort="tfo"}'), 4, 'the next scrape sees new connections')
  t.throws(() => tfo.registerPromClient({}), { code: 'ERR_INVALID_ARG_TYPE' })
})
