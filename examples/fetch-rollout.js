'use strict';
// A staged rollout of TCP Fast Open for fetch and for http.Agent, and how to
// compare the two cohorts.
//
// What it demonstrates: `fastOpen: { rollout: 0.5 }` on the undici connector
// (for Node's built-in fetch) and on tfo.http.Agent: each new connection is
// decided on its own, half use TFO (cohort 'tfo'), the others are plain TCP on
// purpose (cohort 'control', never touching TFO). The server closes every
// connection, so each request opens a new one. tfo.stats() counts both cohorts
// side by side, and tfo.metricsText() (Prometheus text, to serve on /metrics)
// has the same numbers with a `cohort` label.
//
// What it prints, then exits with code 0 (counts vary from run to run):
//   cohort tfo:     connections=21 attempted=21 synDataAcked=20 cookieRequested=1 ttfbP50Ms=0.41
//   cohort control: connections=19 attempted=0 synDataAcked=0 notAttempted={"rollout: not sampled":19} ttfbP50Ms=0.45
//   # HELP tfo_client_connections_total TCP connections established by tfo client sockets, by cohort (...)
//   # TYPE tfo_client_connections_total counter
//   tfo_client_connections_total{cohort="tfo"} 21
//   tfo_client_connections_total{cohort="control"} 19
//   ... (the other per-cohort families: requested, attempts, cookies, SYN data acknowledged, failures, reasons)
// Needs net.ipv4.tcp_fastopen=3, e.g. in a private namespace:
// sudo unshare --net sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_fastopen=3; node examples/fetch-rollout.js'
//
// Node's fetch takes undici's dispatcher (here undici's own Agent, from the
// `undici` package) through its `dispatcher` option; setGlobalDispatcher()
// would make it the default for every fetch. `require('tfo')` works as in your
// application (the package refers to itself by name). Run `npm run build` first.
const http = require('node:http');
const undici = require('undici');
const tfo = require('tfo');

const REQUESTS = 20; // per client; with 20 + 20 decisions both cohorts show up (P(not) = 2^-39)

const server = http.createServer((req, res) => {
  res.setHeader('connection', 'close'); // one request per connection: every request is a new decision
  res.end('ok\n');
});
tfo.enableFastOpen(server);

const fastOpen = { rollout: 0.5 }; // or { rollout: ({ host }) => host.endsWith('.internal') }, or { rollout: { sample, include, random } }
const dispatcher = new undici.Agent({ connect: tfo.undici.connector({ fastOpen }) });
const agent = new tfo.http.Agent({ keepAlive: false, fastOpen });

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  for (let i = 0; i < REQUESTS; i++) {
    const res = await fetch(url, { dispatcher });
    await res.text();
    await get(url);
  }

  const { tfo: treated, control } = tfo.stats().client.cohorts;
  const p50 = (c) => (c.ttfbMs.all.p50 === null ? '-' : c.ttfbMs.all.p50.toFixed(2));
  console.log(
    `cohort tfo:     connections=${treated.connections} attempted=${treated.attempted} synDataAcked=${treated.synDataAcked} cookieRequested=${treated.cookieRequested} ttfbP50Ms=${p50(treated)}`,
  );
  console.log(
    `cohort control: connections=${control.connections} attempted=${control.attempted} synDataAcked=${control.synDataAcked} notAttempted=${JSON.stringify(control.notAttempted)} ttfbP50Ms=${p50(control)}`,
  );
  // The same counts in Prometheus text: the families with a cohort label (but
  // the TTFB histogram's, left out for brevity), with their HELP and TYPE lines.
  const families = tfo.metricsText().split(/(?=^# HELP )/m);
  process.stdout.write(families.filter((f) => f.includes('{cohort="') && !f.includes('_ttfb_')).join(''));

  await dispatcher.close();
  agent.destroy();
  server.close();
});
