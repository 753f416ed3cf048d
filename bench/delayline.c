/*
 * delayline: an emulated WAN path between two network namespaces.
 *
 * Two TUN devices (IFF_TUN | IFF_NO_PI), one created inside each namespace,
 * are joined by this process: every IP packet read from one is written to the
 * other after a fixed one-way delay of RTT/2 (FIFO, never reordered). Optional
 * random loss (seeded, reproducible: one splitmix64 stream per direction,
 * one draw per packet), a TFO-hostile middlebox mode that drops TCP SYN
 * segments carrying payload (IPv4 and IPv6; plain SYNs pass), and a mode that
 * drops the first SYN of every connection once (its retransmission passes).
 *
 *   delayline --ns-a NS --ns-b NS [--dev-a wan0] [--dev-b wan0] [--rtt-ms 50]
 *             [--loss 0.01] [--seed 1] [--drop-syn-data] [--drop-first-syn]
 *             [--queue 10000] [--stats-file PATH] [--control]
 *
 * NS is a name under /var/run/netns or a path (anything containing '/');
 * without --ns-X the device is made in our own namespace. If a persistent TUN
 * of that name already exists there, we attach to it instead of creating one.
 * Non-persistent devices vanish when this process exits.
 *
 * Runtime control: SIGUSR1 = drop-syn-data on, SIGUSR2 = off, SIGHUP = write
 * stats (stats file, else stderr), SIGTERM/SIGINT = print final stats as one
 * JSON line on stdout and exit 0. With --control, stdin takes line commands
 * ("stats", "drop-syn-data 0|1", "drop-first-syn 0|1", "loss P", "rtt MS",
 * "quit"), each answered
 * by one JSON line on stdout, and EOF on stdin means exit (parent gone).
 * Once both devices exist, one line {"ready":true,...} is printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

struct pkt { uint64_t due; uint32_t len; unsigned char data[]; };

struct dir {
  const char *name;
  int in, out;
  struct pkt **ring; size_t head, count;
  uint64_t rng; /* this direction's loss stream: its n-th packet meets its n-th draw */
  uint64_t rx, fwd, bytes, lost, syn_data, qdrop, werr, maxq;
  /* SYNs seen (connection requests: SYN without ACK), and with payload */
  uint64_t syn_rx, syn_data_rx;
  /* random loss that hit a plain SYN, a SYN with payload, a SYN-ACK */
  uint64_t lost_syn, lost_syn_data, lost_synack;
  /* dropped by drop-first-syn: plain first SYNs, first SYNs with payload */
  uint64_t first_syn, first_syn_data;
};

static size_t qcap = 10000;
static uint64_t one_way_ns;
static double rtt_ms = 0, loss = 0;
static int drop_syn_data = 0, drop_first_syn = 0;
static const char *stats_file;
static uint64_t spin_ns;
static volatile sig_atomic_t sig_term, sig_on, sig_off, sig_hup;

static void die(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt);
  fprintf(stderr, "delayline: "); vfprintf(stderr, fmt, ap); fprintf(stderr, "\n");
  va_end(ap); exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double rand01(uint64_t *rng) { /* splitmix64 */
  uint64_t z = (*rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void set_rtt(double ms) { rtt_ms = ms; one_way_ns = (uint64_t)(ms * 1e6 / 2.0 + 0.5); }

/* What the line needs to know about a packet: TCP flags, payload, and a key
 * naming a connection request (addresses, ports, initial sequence number). */
struct seg { int tcp; unsigned flags; size_t payload; uint64_t key; };
#define F_SYN 0x02
#define F_ACK 0x10

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) { /* FNV-1a */
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
  return h;
}

static struct seg parse(const unsigned char *p, size_t n) {
  struct seg g = { 0, 0, 0, 0 };
  size_t off, end; const unsigned char *src; size_t alen;
  if (n < 1) return g;
  if ((p[0] >> 4) == 4) {
    if (n < 20) return g;
    size_t ihl = (size_t)(p[0] & 15) * 4, tot = ((size_t)p[2] << 8) | p[3];
    if (p[9] != 6 || ihl < 20) return g;
    if (((p[6] & 0x1f) << 8 | p[7]) != 0) return g; /* non-first fragment */
    off = ihl; end = tot < n ? tot : n; src = p + 12; alen = 8;
  } else if ((p[0] >> 4) == 6) {
    if (n < 40) return g;
    unsigned nh = p[6];
    end = 40 + (((size_t)p[4] << 8) | p[5]); if (end > n) end = n;
    off = 40; src = p + 8; alen = 32;
    while (nh != 6) { /* walk extension headers */
      if (off + 8 > end) return g;
      if (nh == 0 || nh == 43 || nh == 60) { nh = p[off]; off += ((size_t)p[off + 1] + 1) * 8; }
      else if (nh == 44) { /* fragment: only the first one holds the TCP header */
        if (((p[off + 2] << 8 | p[off + 3]) & 0xfff8) != 0) return g;
        nh = p[off]; off += 8;
      } else return g;
    }
  } else return g;
  if (off + 20 > end) return g;
  size_t doff = (size_t)(p[off + 12] >> 4) * 4;
  g.tcp = 1;
  g.flags = p[off + 13];
  g.payload = end > off + doff ? end - off - doff : 0;
  /* source and destination address, ports, sequence number: the same for a SYN and its retransmissions */
  g.key = fnv(fnv(0xcbf29ce484222325ull, src, alen), p + off, 8);
  return g;
}

/* drop-first-syn: keys of the connection requests already dropped once (a
 * ring; a retransmission comes 1 s later, long before 4096 newer ones). */
#define SEEN 4096
static uint64_t seen[SEEN];
static size_t seen_next;

static int seen_before(uint64_t key) {
  for (size_t i = 0; i < SEEN; i++) if (seen[i] == key) return 1;
  seen[seen_next] = key; seen_next = (seen_next + 1) % SEEN;
  return 0;
}

static int open_tun(const char *ns, const char *dev, char *got) {
  int self = -1, nsfd = -1, fd;
  char path[4096];
  if (ns) {
    if (strchr(ns, '/')) snprintf(path, sizeof path, "%s", ns);
    else snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    if ((self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) die("open /proc/self/ns/net: %s", strerror(errno));
    if ((nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0) die("open %s: %s", path, strerror(errno));
    if (setns(nsfd, CLONE_NEWNET) < 0) die("setns %s: %s (needs root/CAP_SYS_ADMIN)", path, strerror(errno));
  }
  if ((fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) die("open /dev/net/tun: %s", strerror(errno));
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF %s in %s: %s", dev, ns ? path : "own netns", strerror(errno));
  snprintf(got, IFNAMSIZ, "%s", ifr.ifr_name);
  if (ns) {
    if (setns(self, CLONE_NEWNET) < 0) die("setns back: %s", strerror(errno));
    close(self); close(nsfd);
  }
  return fd;
}

static void enqueue(struct dir *d, const unsigned char *buf, size_t n, uint64_t t) {
  struct seg g = parse(buf, n);
  int syn = g.tcp && (g.flags & (F_SYN | F_ACK)) == F_SYN; /* a connection request */
  int synack = g.tcp && (g.flags & (F_SYN | F_ACK)) == (F_SYN | F_ACK);
  d->rx++;
  if (syn) { d->syn_rx++; if (g.payload) d->syn_data_rx++; }
  /* Order: middlebox modes first, then random loss (one draw per packet that
   * reaches it, so the stream stays aligned with the traffic), then the queue. */
  if (drop_syn_data && g.tcp && (g.flags & F_SYN) && g.payload) { d->syn_data++; return; }
  if (drop_first_syn && syn && !seen_before(g.key ? g.key : 1)) {
    if (g.payload) d->first_syn_data++; else d->first_syn++;
    return;
  }
  if (loss > 0 && rand01(&d->rng) < loss) {
    d->lost++;
    if (syn) { if (g.payload) d->lost_syn_data++; else d->lost_syn++; }
    else if (synack) d->lost_synack++;
    return;
  }
  if (d->count >= qcap) { d->qdrop++; return; }
  struct pkt *p = malloc(sizeof *p + n);
  if (!p) { d->qdrop++; return; }
  p->due = t + one_way_ns; p->len = (uint32_t)n; memcpy(p->data, buf, n);
  d->ring[(d->head + d->count) % qcap] = p;
  if (++d->count > d->maxq) d->maxq = d->count;
}

static void release(struct dir *d, uint64_t t) {
  while (d->count && d->ring[d->head]->due <= t) {
    struct pkt *p = d->ring[d->head];
    if (write(d->out, p->data, p->len) == (ssize_t)p->len) { d->fwd++; d->bytes += p->len; }
    else d->werr++;
    free(p); d->head = (d->head + 1) % qcap; d->count--;
  }
}

static void drain(struct dir *d) {
  static unsigned char buf[65536];
  for (int i = 0; i < 256; i++) {
    ssize_t n = read(d->in, buf, sizeof buf);
    if (n <= 0) { if (n < 0 && errno != EAGAIN && errno != EINTR) die("read %s: %s", d->name, strerror(errno)); return; }
    enqueue(d, buf, (size_t)n, now_ns());
  }
}

#define U(x) ((unsigned long long)(x))

static int dir_json(char *s, size_t n, const struct dir *d) {
  return snprintf(s, n, "\"%s\":{\"rx\":%llu,\"forwarded\":%llu,\"bytes\":%llu,\"loss_dropped\":%llu,"
    "\"syn_data_dropped\":%llu,\"first_syn_dropped\":%llu,\"first_syn_data_dropped\":%llu,"
    "\"queue_dropped\":%llu,\"write_errors\":%llu,\"queued\":%zu,\"max_queued\":%llu,"
    "\"syn_seen\":%llu,\"syn_data_seen\":%llu,\"loss_syn\":%llu,\"loss_syn_data\":%llu,\"loss_synack\":%llu}",
    d->name, U(d->rx), U(d->fwd), U(d->bytes), U(d->lost), U(d->syn_data), U(d->first_syn), U(d->first_syn_data),
    U(d->qdrop), U(d->werr), d->count, U(d->maxq),
    U(d->syn_rx), U(d->syn_data_rx), U(d->lost_syn), U(d->lost_syn_data), U(d->lost_synack));
}

static void stats_json(char *s, size_t n, const struct dir *a, const struct dir *b, const char *extra) {
  char da[1024], db[1024];
  dir_json(da, sizeof da, a); dir_json(db, sizeof db, b);
  snprintf(s, n, "{%s\"rtt_ms\":%.6g,\"loss\":%.6g,\"drop_syn_data\":%s,\"drop_first_syn\":%s,\"queue_cap\":%zu,"
    "\"forwarded\":%llu,\"dropped\":%llu,\"loss_dropped\":%llu,\"syn_data_dropped\":%llu,"
    "\"first_syn_dropped\":%llu,\"first_syn_data_dropped\":%llu,\"queue_dropped\":%llu,"
    "\"loss_syn\":%llu,\"loss_syn_data\":%llu,\"loss_synack\":%llu,%s,%s}\n",
    extra, rtt_ms, loss, drop_syn_data ? "true" : "false", drop_first_syn ? "true" : "false", qcap,
    U(a->fwd + b->fwd),
    U(a->lost + b->lost + a->syn_data + b->syn_data + a->first_syn + b->first_syn + a->first_syn_data + b->first_syn_data + a->qdrop + b->qdrop),
    U(a->lost + b->lost), U(a->syn_data + b->syn_data),
    U(a->first_syn + b->first_syn), U(a->first_syn_data + b->first_syn_data), U(a->qdrop + b->qdrop),
    U(a->lost_syn + b->lost_syn), U(a->lost_syn_data + b->lost_syn_data), U(a->lost_synack + b->lost_synack), da, db);
}

static void out(const char *s) {
  size_t n = strlen(s);
  while (n) { ssize_t w = write(1, s, n); if (w < 0) { if (errno == EINTR) continue; return; } s += w; n -= (size_t)w; }
}

static void write_stats_file(const char *s) {
  if (!stats_file) { fputs(s, stderr); return; }
  char tmp[4200]; snprintf(tmp, sizeof tmp, "%s.tmp", stats_file);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fputs(s, f); fclose(f); rename(tmp, stats_file);
}

/* Handle one control line; returns 1 for quit. */
static int command(char *line, const struct dir *a, const struct dir *b) {
  char s[4096], *arg = strchr(line, ' ');
  if (arg) *arg++ = 0;
  if (!strcmp(line, "stats")) { stats_json(s, sizeof s, a, b, "\"ok\":true,\"cmd\":\"stats\","); out(s); return 0; }
  if (!strcmp(line, "quit")) return 1;
  if (!strcmp(line, "drop-syn-data") && arg && (!strcmp(arg, "0") || !strcmp(arg, "1"))) drop_syn_data = *arg == '1';
  else if (!strcmp(line, "drop-first-syn") && arg && (!strcmp(arg, "0") || !strcmp(arg, "1"))) drop_first_syn = *arg == '1';
  else if (!strcmp(line, "loss") && arg && atof(arg) >= 0 && atof(arg) <= 1) loss = atof(arg);
  else if (!strcmp(line, "rtt") && arg && atof(arg) >= 0) set_rtt(atof(arg));
  else { snprintf(s, sizeof s, "{\"ok\":false,\"error\":\"bad command: %.100s\"}\n", line); out(s); return 0; }
  snprintf(s, sizeof s, "{\"ok\":true,\"cmd\":\"%s\",\"rtt_ms\":%.6g,\"loss\":%.6g,\"drop_syn_data\":%s,\"drop_first_syn\":%s}\n",
    line, rtt_ms, loss, drop_syn_data ? "true" : "false", drop_first_syn ? "true" : "false");
  out(s);
  return 0;
}

static void on_sig(int s) {
  if (s == SIGUSR1) sig_on = 1; else if (s == SIGUSR2) sig_off = 1; else if (s == SIGHUP) sig_hup = 1; else sig_term = 1;
}

int main(int argc, char **argv) {
  const char *ns_a = NULL, *ns_b = NULL, *dev_a = "wan0", *dev_b = "wan0";
  int control = 0, rt_prio = 0; uint64_t seed = 1;
  set_rtt(0);
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *e = NULL;
    if (!strcmp(o, "--drop-syn-data")) { drop_syn_data = 1; continue; }
    if (!strcmp(o, "--drop-first-syn")) { drop_first_syn = 1; continue; }
    if (!strcmp(o, "--control")) { control = 1; continue; }
    if (!v) die("missing value for %s", o);
    i++;
    if (!strcmp(o, "--ns-a")) ns_a = v;
    else if (!strcmp(o, "--ns-b")) ns_b = v;
    else if (!strcmp(o, "--dev-a")) dev_a = v;
    else if (!strcmp(o, "--dev-b")) dev_b = v;
    else if (!strcmp(o, "--stats-file")) stats_file = v;
    else if (!strcmp(o, "--rtt-ms")) { double r = strtod(v, &e); if (*e || r < 0) die("bad --rtt-ms"); set_rtt(r); }
    else if (!strcmp(o, "--loss")) { loss = strtod(v, &e); if (*e || loss < 0 || loss > 1) die("bad --loss (0..1)"); }
    else if (!strcmp(o, "--seed")) { seed = strtoull(v, &e, 0); if (*e) die("bad --seed"); }
    else if (!strcmp(o, "--rt-prio")) { rt_prio = (int)strtol(v, &e, 0); if (*e || rt_prio < 0 || rt_prio > 99) die("bad --rt-prio (0..99)"); }
    else if (!strcmp(o, "--spin-us")) { double u = strtod(v, &e); if (*e || u < 0 || u > 10000) die("bad --spin-us"); spin_ns = (uint64_t)(u * 1000); }
    else if (!strcmp(o, "--queue")) { qcap = strtoull(v, &e, 0); if (*e || !qcap) die("bad --queue"); }
    else die("unknown option %s", o);
  }
  if (!ns_a && !ns_b && !strcmp(dev_a, dev_b)) die("--dev-a and --dev-b must differ within one namespace");
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake ppoll as close to the deadline as possible */
  if (rt_prio) { /* keeps timing under CPU contention; RT throttling still applies */
    struct sched_param sp = { .sched_priority = rt_prio };
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) fprintf(stderr, "delayline: SCHED_FIFO %d: %s (continuing)\n", rt_prio, strerror(errno));
  }

  /* Two independent loss streams, so that what one direction carries does not shift the other's draws. */
  struct dir a = { .name = "a_to_b", .rng = seed }, b = { .name = "b_to_a", .rng = seed ^ 0x5851f42d4c957f2dull };
  char got_a[IFNAMSIZ], got_b[IFNAMSIZ];
  a.in = b.out = open_tun(ns_a, dev_a, got_a);
  b.in = a.out = open_tun(ns_b, dev_b, got_b);
  if (!(a.ring = calloc(qcap, sizeof *a.ring)) || !(b.ring = calloc(qcap, sizeof *b.ring))) die("out of memory");

  sigset_t block, orig;
  sigemptyset(&block);
  int sigs[] = { SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP };
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_sig;
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) { sigaddset(&block, sigs[i]); sigaction(sigs[i], &sa, NULL); }
  signal(SIGPIPE, SIG_IGN);
  sigprocmask(SIG_BLOCK, &block, &orig); /* signals only arrive inside ppoll: no races */
  sigdelset(&orig, SIGTERM); sigdelset(&orig, SIGINT); sigdelset(&orig, SIGUSR1); sigdelset(&orig, SIGUSR2); sigdelset(&orig, SIGHUP);
  if (control) fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

  char s[4096], line[1024]; size_t ll = 0;
  snprintf(s, sizeof s, "{\"ready\":true,\"pid\":%d,\"dev_a\":\"%s\",\"dev_b\":\"%s\",\"rtt_ms\":%.6g}\n", (int)getpid(), got_a, got_b, rtt_ms);
  out(s);

  for (;;) {
    if (sig_on) { sig_on = 0; drop_syn_data = 1; }
    if (sig_off) { sig_off = 0; drop_syn_data = 0; }
    if (sig_hup) { sig_hup = 0; stats_json(s, sizeof s, &a, &b, ""); write_stats_file(s); }
    if (sig_term) break;
    uint64_t t = now_ns();
    release(&a, t); release(&b, t);
    uint64_t next = UINT64_MAX;
    if (a.count) next = a.ring[a.head]->due;
    if (b.count && b.ring[b.head]->due < next) next = b.ring[b.head]->due;
    struct timespec ts, *tsp = NULL;
    if (next != UINT64_MAX) {
      uint64_t d = next > t ? next - t : 0;
      if (spin_ns && d <= spin_ns) { /* close to the deadline: poll without sleeping */
        d = 0;
      } else if (spin_ns) d -= spin_ns;
      ts.tv_sec = (time_t)(d / 1000000000ull); ts.tv_nsec = (long)(d % 1000000000ull); tsp = &ts;
    }
    struct pollfd p[3] = { { a.in, POLLIN, 0 }, { b.in, POLLIN, 0 }, { 0, POLLIN, 0 } };
    int r = ppoll(p, control ? 3 : 2, tsp, &orig);
    if (r < 0) { if (errno == EINTR) continue; die("ppoll: %s", strerror(errno)); }
    if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) die("tun device %s gone", got_a);
    if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) die("tun device %s gone", got_b);
    if (p[0].revents & POLLIN) drain(&a);
    if (p[1].revents & POLLIN) drain(&b);
    if (control && p[2].revents) {
      char buf[512]; ssize_t n = read(0, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break; /* parent gone */
      int quit = 0;
      for (ssize_t i = 0; i < n && !quit; i++) {
        if (buf[i] == '\n') { line[ll] = 0; if (ll && line[ll - 1] == '\r') line[ll - 1] = 0; quit = command(line, &a, &b); ll = 0; }
        else if (ll < sizeof line - 1) line[ll++] = buf[i];
      }
      if (quit) break;
    }
  }
  stats_json(s, sizeof s, &a, &b, "\"final\":true,");
  out(s);
  if (stats_file) write_stats_file(s);
  return 0;
}
