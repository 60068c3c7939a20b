/*
 * A userspace WAN path between two network namespaces, for the WAN bench (benchmarks/wan/).
 * The kernel here has namespaces and TUN but no netem, so this plays netem's part.
 *
 *   emulator --ns-a /run/netns/A --ns-b /run/netns/B --ifname wan0
 *            --rate BITS_PER_S --delay-us US --limit-bytes N --loss P [--jitter-us US] [--seed N]
 *            [--rate-ba ...] [--delay-us-ba ...] [--limit-bytes-ba ...] [--loss-ba ...] [--jitter-us-ba ...]
 *
 * It creates a TUN device named --ifname in each namespace (it enters each with setns before
 * opening /dev/net/tun, so each device is born there), prints "ready" and waits; the caller then
 * gives the devices addresses and brings them up. Every IP packet read from one device is written
 * to the other after the path has treated it, per direction (a->b from the --rate... options,
 * b->a from the -ba ones, which default to the a->b values):
 *
 *   1. random loss: dropped with probability --loss (xorshift64* seeded by --seed, one stream per
 *      direction, so a run drops the same packets of the same traffic);
 *   2. drop-tail bottleneck: dropped when the bytes still waiting to be serialised plus this packet
 *      exceed --limit-bytes; else it leaves the bottleneck when the link has serialised it
 *      (len * 8 / rate after the previous packet left, or after it arrived if the link was idle);
 *   3. propagation: delivered --delay-us after it left, plus a uniform jitter in [0, --jitter-us];
 *      delivery never overtakes an earlier packet (jitter without reordering).
 *
 * Packets in one direction leave in order, so each direction is one FIFO ring of slots with two
 * times per packet, and the next event is the earlier of the two heads: ppoll sleeps until then
 * (1 us timer slack) or until a device has a packet; an idle emulator sleeps in ppoll.
 * It asks for SCHED_FIFO (priority 20, above the endpoints' 10) so that other work on a shared machine delays packets less
 * (a real path does not slow down when the hosts are busy); it sleeps when idle, and the kernel's
 * real-time throttling bounds it anyway. The "ready" line says whether it got it.
 * SIGTERM/SIGINT end it; it then prints one JSON line of counters per direction on stdout (a
 * packet written to a device that is not up is counted as dropped_down, not as a failed write).
 * Packet lengths count the IP packet only (no link-layer framing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Largest packet taken: the devices' MTU is 1500 (the caller sets no other); a longer read is counted and dropped. */
#define SLOT_BYTES 2048
/* The smallest IP packet: an IPv4 header without options (an IPv6 header is 40). */
#define MIN_IP_PACKET 20
/* Reads per device per loop turn: enough to drain a burst, few enough that the other side and due deliveries are not starved. */
#define READ_BATCH 64
/* Ring sizes: at least this many slots, at most the cap (the cap's slots are 512 MiB of address space, touched only as used). */
#define MIN_SLOTS 4096u
#define MAX_SLOTS (1u << 18)
/* Slots are sized for the bytes a direction can hold (queue plus the propagation line) in packets this small on average. */
#define SIZING_PACKET_BYTES 200

typedef struct {
  uint64_t depart_ns;  /* when the bottleneck has serialised it */
  uint64_t deliver_ns; /* when it is written to the other device */
  uint32_t len;
} slot_meta;

typedef struct {
  /* parameters */
  double rate_bps;
  uint64_t delay_ns, jitter_ns, limit_bytes;
  double loss;
  uint64_t prng;
  /* the ring: `count` packets from head (oldest); the first `departed` of them have left the bottleneck */
  slot_meta *meta;
  uint8_t *data;
  uint32_t slots, head, count, departed;
  uint64_t queued_bytes;     /* bytes of the packets not yet departed: waiting or being serialised */
  uint64_t link_free_ns;     /* when the link finishes the last accepted packet */
  uint64_t last_deliver_ns;
  /* counters */
  uint64_t received, forwarded, forwarded_bytes, dropped_queue, dropped_loss, dropped_ring, dropped_length, dropped_down, write_errors;
  uint64_t max_queue_bytes;
  int first_write_errno; /* why the first failed write failed (0: none, or a short write) */
} direction;

static volatile sig_atomic_t stopping = 0;
static void on_stop(int sig) { (void)sig; stopping = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64* (Vigna): fast, good enough for loss draws, and reproducible from the seed. */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}
/* Uniform in [0, 1) from the top 53 bits. */
static double next_unit(uint64_t *state) { return (double)(next_random(state) >> 11) / 9007199254740992.0; }

static void die(const char *what) {
  fprintf(stderr, "emulator: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(const char *why) {
  fprintf(stderr, "emulator: %s\nusage: emulator --ns-a PATH --ns-b PATH --ifname NAME --rate BPS --delay-us US --limit-bytes N --loss P"
                  " [--jitter-us US] [--seed N] [--rate-ba BPS] [--delay-us-ba US] [--limit-bytes-ba N] [--loss-ba P] [--jitter-us-ba US]\n",
          why);
  exit(2);
}

/* Strict number parsing: the whole argument, finite, within [low, high]. */
static double parse_number(const char *flag, const char *text, double low, double high) {
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= low && v <= high)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s wants a number from %g to %g, not '%s'", flag, low, high, text);
    usage(msg);
  }
  return v;
}

/* Opens a TUN device named `ifname` inside the network namespace at `ns_path`, then returns to `home_ns`. */
static int open_tun_in(const char *ns_path, const char *ifname, int home_ns) {
  int ns = open(ns_path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) die(ns_path);
  if (setns(ns, CLONE_NEWNET) != 0) die("setns");
  close(ns);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) die("TUNSETIFF");
  if (setns(home_ns, CLONE_NEWNET) != 0) die("setns back");
  return fd;
}

static void init_direction(direction *d, uint64_t seed) {
  /* What the direction can hold at once, in bytes, sized for small packets (ACKs) in the propagation line. */
  double hold = (double)d->limit_bytes + d->rate_bps / 8.0 * (double)(d->delay_ns + d->jitter_ns) / 1e9;
  double want = hold / SIZING_PACKET_BYTES + 1024;
  uint32_t slots = MIN_SLOTS;
  while (slots < MAX_SLOTS && (double)slots < want) slots <<= 1;
  d->slots = slots;
  d->meta = calloc(slots, sizeof *d->meta);
  d->data = malloc((size_t)slots * SLOT_BYTES);
  if (d->meta == NULL || d->data == NULL) die("ring allocation");
  /* splitmix64 of the seed, so seeds 1 and 2 give unrelated streams (xorshift must not start at 0). */
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  d->prng = z == 0 ? 1 : z;
}

/* One packet of `len` bytes arrived at `now`: loss, then the drop-tail queue, then into the ring. */
static void accept_packet(direction *d, const uint8_t *packet, size_t len, uint64_t now) {
  d->received++;
  /* Longer: read() filled the whole buffer, so the packet may have been cut. Shorter than an IPv4
   * header: no IP packet at all. Neither is forwarded. */
  if (len > SLOT_BYTES - 1 || len < MIN_IP_PACKET) {
    d->dropped_length++;
    return;
  }
  if (d->loss > 0 && next_unit(&d->prng) < d->loss) {
    d->dropped_loss++;
    return;
  }
  if (d->queued_bytes + len > d->limit_bytes) {
    d->dropped_queue++;
    return;
  }
  if (d->count == d->slots) {
    d->dropped_ring++;
    return;
  }
  uint64_t start = d->link_free_ns > now ? d->link_free_ns : now;
  uint64_t serialise = (uint64_t)((double)len * 8.0 * 1e9 / d->rate_bps + 0.5);
  uint64_t depart = start + serialise;
  uint64_t jitter = d->jitter_ns == 0 ? 0 : (uint64_t)(next_unit(&d->prng) * (double)(d->jitter_ns + 1));
  uint64_t deliver = depart + d->delay_ns + jitter;
  if (deliver < d->last_deliver_ns) deliver = d->last_deliver_ns;
  uint32_t tail = (d->head + d->count) % d->slots;
  slot_meta *m = &d->meta[tail];
  m->depart_ns = depart;
  m->deliver_ns = deliver;
  m->len = (uint32_t)len;
  memcpy(d->data + (size_t)tail * SLOT_BYTES, packet, len);
  d->count++;
  d->link_free_ns = depart;
  d->last_deliver_ns = deliver;
  d->queued_bytes += len;
  if (d->queued_bytes > d->max_queue_bytes) d->max_queue_bytes = d->queued_bytes;
}

/* Packets that have left the bottleneck stop counting against the queue. */
static void advance_serialised(direction *d, uint64_t now) {
  while (d->departed < d->count) {
    const slot_meta *m = &d->meta[(d->head + d->departed) % d->slots];
    if (m->depart_ns > now) break;
    d->queued_bytes -= m->len;
    d->departed++;
  }
}

/* Writes every packet due by `now` to `out_fd`. */
static void deliver_due(direction *d, int out_fd, uint64_t now) {
  advance_serialised(d, now);
  while (d->count > 0) {
    const slot_meta *m = &d->meta[d->head];
    if (m->deliver_ns > now) break;
    /* Delivery is never before departure, so the head has left the bottleneck: advance_serialised counted it in `departed`. */
    ssize_t w = write(out_fd, d->data + (size_t)d->head * SLOT_BYTES, m->len);
    if (w == (ssize_t)m->len) {
      d->forwarded++;
      d->forwarded_bytes += m->len;
    } else if (w < 0 && errno == EIO) {
      /* The TUN device is not up (yet): the bench brings one up before the other, and the kernel
       * may retransmit for the previous run's orphaned TCP connections in between. A packet sent
       * to a link that is down is lost on a real path too. */
      d->dropped_down++;
    } else {
      if (d->write_errors == 0) d->first_write_errno = w < 0 ? errno : 0;
      d->write_errors++;
    }
    d->departed--;
    d->head = (d->head + 1) % d->slots;
    d->count--;
  }
}

/* The next time something happens in `d`: its head's delivery or its next departure; UINT64_MAX when empty. */
static uint64_t next_event(const direction *d) {
  if (d->count == 0) return UINT64_MAX;
  uint64_t t = d->meta[d->head].deliver_ns;
  if (d->departed < d->count) {
    uint64_t depart = d->meta[(d->head + d->departed) % d->slots].depart_ns;
    if (depart < t) t = depart;
  }
  return t;
}

/* Reads up to READ_BATCH packets from `fd` into `d`. */
static void read_batch(direction *d, int fd) {
  static uint8_t buffer[SLOT_BYTES];
  for (int i = 0; i < READ_BATCH; i++) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      die("read");
    }
    if (n == 0) return;
    uint64_t now = now_ns();
    advance_serialised(d, now);
    accept_packet(d, buffer, (size_t)n, now);
  }
}

static const char *write_error_name(const direction *d) {
  if (d->write_errors == 0) return "";
  if (d->first_write_errno == 0) return "short write";
  const char *name = strerrorname_np(d->first_write_errno);
  return name == NULL ? "unknown errno" : name;
}

static void print_counters(const char *name, const direction *d) {
  printf("{\"direction\":\"%s\",\"received\":%" PRIu64 ",\"forwarded\":%" PRIu64 ",\"forwarded_bytes\":%" PRIu64
         ",\"dropped_queue\":%" PRIu64 ",\"dropped_loss\":%" PRIu64 ",\"dropped_ring\":%" PRIu64 ",\"dropped_length\":%" PRIu64
         ",\"dropped_down\":%" PRIu64
         ",\"write_errors\":%" PRIu64 ",\"first_write_error\":\"%s\",\"max_queue_bytes\":%" PRIu64 "}\n",
         name, d->received, d->forwarded, d->forwarded_bytes, d->dropped_queue, d->dropped_loss, d->dropped_ring, d->dropped_length,
         d->dropped_down, d->write_errors, write_error_name(d),
         d->max_queue_bytes);
}

int main(int argc, char **argv) {
  const char *ns_a = NULL, *ns_b = NULL, *ifname = NULL;
  direction ab, ba;
  memset(&ab, 0, sizeof ab);
  memset(&ba, 0, sizeof ba);
  double rate = -1, delay = -1, limit = -1, loss = -1, jitter = 0, seed = 1;
  double rate_ba = -1, delay_ba = -1, limit_ba = -1, loss_ba = -1, jitter_ba = -1;
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i];
    if (i + 1 >= argc) usage("every option takes a value");
    const char *value = argv[++i];
    if (strcmp(flag, "--ns-a") == 0) ns_a = value;
    else if (strcmp(flag, "--ns-b") == 0) ns_b = value;
    else if (strcmp(flag, "--ifname") == 0) ifname = value;
    /* Rates from 1 kbit/s to 100 Gbit/s; delays up to 10 s; queues up to 1 GiB. */
    else if (strcmp(flag, "--rate") == 0) rate = parse_number(flag, value, 1e3, 1e11);
    else if (strcmp(flag, "--delay-us") == 0) delay = parse_number(flag, value, 0, 1e7);
    else if (strcmp(flag, "--limit-bytes") == 0) limit = parse_number(flag, value, 1500, 1073741824.0);
    else if (strcmp(flag, "--loss") == 0) loss = parse_number(flag, value, 0, 1);
    else if (strcmp(flag, "--jitter-us") == 0) jitter = parse_number(flag, value, 0, 1e7);
    else if (strcmp(flag, "--seed") == 0) seed = parse_number(flag, value, 0, 9007199254740991.0);
    else if (strcmp(flag, "--rate-ba") == 0) rate_ba = parse_number(flag, value, 1e3, 1e11);
    else if (strcmp(flag, "--delay-us-ba") == 0) delay_ba = parse_number(flag, value, 0, 1e7);
    else if (strcmp(flag, "--limit-bytes-ba") == 0) limit_ba = parse_number(flag, value, 1500, 1073741824.0);
    else if (strcmp(flag, "--loss-ba") == 0) loss_ba = parse_number(flag, value, 0, 1);
    else if (strcmp(flag, "--jitter-us-ba") == 0) jitter_ba = parse_number(flag, value, 0, 1e7);
    else usage("unknown option");
  }
  if (ns_a == NULL || ns_b == NULL || ifname == NULL) usage("--ns-a, --ns-b and --ifname are required");
  if (strlen(ifname) == 0 || strlen(ifname) >= IFNAMSIZ) usage("--ifname must be 1 to 15 characters");
  if (rate < 0 || delay < 0 || limit < 0 || loss < 0) usage("--rate, --delay-us, --limit-bytes and --loss are required");
  ab.rate_bps = rate;
  ab.delay_ns = (uint64_t)(delay * 1000);
  ab.limit_bytes = (uint64_t)limit;
  ab.loss = loss;
  ab.jitter_ns = (uint64_t)(jitter * 1000);
  ba.rate_bps = rate_ba < 0 ? rate : rate_ba;
  ba.delay_ns = (uint64_t)((delay_ba < 0 ? delay : delay_ba) * 1000);
  ba.limit_bytes = (uint64_t)(limit_ba < 0 ? limit : limit_ba);
  ba.loss = loss_ba < 0 ? loss : loss_ba;
  ba.jitter_ns = (uint64_t)((jitter_ba < 0 ? jitter : jitter_ba) * 1000);
  init_direction(&ab, (uint64_t)seed * 2);
  init_direction(&ba, (uint64_t)seed * 2 + 1);

  /* ppoll's wake-ups are late by the timer slack (50 us by default): 1 us keeps serialisation times honest. */
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) die("/proc/self/ns/net");
  int fd_a = open_tun_in(ns_a, ifname, home);
  int fd_b = open_tun_in(ns_b, ifname, home);
  close(home);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Signals are blocked except inside ppoll, so a SIGTERM between the check and the wait cannot be missed. */
  sigset_t blocked, during_poll;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &during_poll);

  struct sched_param rt = {.sched_priority = 20};
  int realtime = sched_setscheduler(0, SCHED_FIFO, &rt) == 0;
  printf("ready %s slots=%u/%u realtime=%s\n", ifname, ab.slots, ba.slots, realtime ? "yes" : "no");
  fflush(stdout);

  struct pollfd fds[2] = {{.fd = fd_a, .events = POLLIN}, {.fd = fd_b, .events = POLLIN}};
  while (!stopping) {
    uint64_t now = now_ns();
    deliver_due(&ab, fd_b, now);
    deliver_due(&ba, fd_a, now);
    uint64_t next = next_event(&ab);
    uint64_t other = next_event(&ba);
    if (other < next) next = other;
    struct timespec timeout, *wait = NULL;
    if (next != UINT64_MAX) {
      uint64_t left = next > now ? next - now : 0;
      timeout.tv_sec = (time_t)(left / 1000000000u);
      timeout.tv_nsec = (long)(left % 1000000000u);
      wait = &timeout;
    }
    int ready = ppoll(fds, 2, wait, &during_poll);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) { errno = EIO; die("device a"); }
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) { errno = EIO; die("device b"); }
    if (fds[0].revents & POLLIN) read_batch(&ab, fd_a);
    if (fds[1].revents & POLLIN) read_batch(&ba, fd_b);
  }
  print_counters("a_to_b", &ab);
  print_counters("b_to_a", &ba);
  fflush(stdout);
  return 0;
}
