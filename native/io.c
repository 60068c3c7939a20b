/*
 * bittrrt's native datagram path: a UDP socket that moves batches (recvmmsg with GRO, sendmmsg
 * with GSO) and ChaCha20-Poly1305 over a whole batch in one call. The protocol stays in JS; this
 * file only moves bytes. Every length and offset that comes from JS is checked here, before any
 * memory is touched; a datagram from the network is only ever copied into a buffer JS sized.
 *
 * Buffers: the receive buffer and its descriptor table belong to JS, which hands them over once
 * (start) and keeps references until close. They are written only inside the poll callback, before
 * the JS callback that reads them, which runs synchronously; JS copies what it keeps. Buffers
 * passed to send and the AEAD calls are used only during the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <node_api.h>
#include <openssl/evp.h>
#include <uv.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Datagrams read per recvmmsg; each gets a slot of RECV_SLOT bytes (a whole GRO train). */
#define RECV_BATCH 16
#define RECV_SLOT 65536
/* Descriptor fields per received datagram: offset, length, port, family, address (4 words). */
#define META_FIELDS 8
/* recvmmsg calls per readable event before yielding to the event loop (other sockets, timers). */
#define RECV_ROUNDS 8
/* Messages per sendmmsg, and the kernel's limit on segments in one GSO send (UDP_MAX_SEGMENTS). */
#define SEND_BATCH 64
#define GSO_MAX_SEGMENTS 64
/* Datagrams per send call: a bound on the iovec table, which lives on the stack. */
#define SEND_MAX 1024
/* A GSO send's payload, all segments together, must fit one IP datagram. */
#define GSO_MAX_BYTES 65000
#define MAX_DATAGRAM 65507

#define AEAD_NONCE 12
#define AEAD_TAG 16
#define AEAD_KEY 32

/* A failed N-API call returns to JS with an exception: its own, or a TypeError (a wrong argument type). */
#define CHECK(call)                                                                                  \
  do {                                                                                             \
    if ((call) != napi_ok) return failed(env);                                                     \
  } while (0)

/* Declares argv[n] from the call, and throws unless exactly n arguments came. */
#define ARGUMENTS(n, name)                                                                           \
  size_t argc = (n);                                                                               \
  napi_value argv[(n)];                                                                            \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                                     \
  if (argc != (n)) return throw_range(env, name " takes " #n " argument(s)")

/* ARGUMENTS, then `s`: the socket in argv[0], open (else a JS error is thrown). */
#define SOCKET_ARGUMENTS(n, name)                                                                    \
  ARGUMENTS(n, name);                                                                              \
  io_socket *s = socket_of(env, argv[0]);                                                          \
  if (!s) return NULL

static napi_value failed(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, NULL, "an argument has the wrong type");
  return NULL;
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static napi_value number(napi_env env, double value) {
  napi_value result;
  if (napi_create_double(env, value, &result) != napi_ok) return NULL;
  return result;
}

/* The bytes of a Buffer / typed array argument; false (with a JS error thrown) if it is not one. */
static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, NULL, "expected a Buffer or Uint8Array");
    return 0;
  }
  napi_typedarray_type type;
  size_t count;
  void *base;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &count, &base, NULL, &offset) != napi_ok) return 0;
  size_t element = 1;
  if (type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array) element = 4;
  else if (type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array) element = 8;
  else if (type == napi_int16_array || type == napi_uint16_array) element = 2;
  *data = (uint8_t *)base;
  *length = count * element;
  return 1;
}

static int int_of(napi_env env, napi_value value, int64_t *out) {
  if (napi_get_value_int64(env, value, out) == napi_ok) return 1;
  napi_throw_type_error(env, NULL, "expected a number");
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* The socket                                                                                      */

typedef struct {
  int fd;
  int family;
  int gso; /* 1 until a GSO send fails with an error that says the path cannot segment */
  int gro;
  int connected;
  int polling;
  int closed;
  int finalized;
  uv_poll_t poll;
  napi_env env;
  napi_ref self;        /* the JS wrapper, strongly held while polling */
  napi_ref on_batch;    /* (count: number) => void, or (-errno) on a socket error */
  napi_ref recv_ref;    /* the receive buffer: RECV_BATCH * RECV_SLOT bytes */
  napi_ref meta_ref;    /* descriptors: Int32Array, a multiple of META_FIELDS */
  napi_async_context async; /* so callbacks run microtasks and nextTicks after them, as libuv's own do */
  uint8_t *recv;
  int32_t *meta;
  size_t meta_count;    /* descriptors it holds */
  size_t meta_capacity; /* descriptors it has room for */
  uint64_t gro_trains;  /* reads that carried more than one datagram */
  uint64_t truncated;   /* datagrams larger than a slot: dropped */
} io_socket;

static void free_when_done(io_socket *s) {
  if (s->finalized && !s->polling && s->closed) free(s);
}

static void on_poll_closed(uv_handle_t *handle) {
  io_socket *s = (io_socket *)handle->data;
  s->polling = 0;
  free_when_done(s);
}

static void release_refs(io_socket *s) {
  napi_env env = s->env;
  if (s->on_batch) napi_delete_reference(env, s->on_batch);
  if (s->recv_ref) napi_delete_reference(env, s->recv_ref);
  if (s->meta_ref) napi_delete_reference(env, s->meta_ref);
  if (s->self) napi_delete_reference(env, s->self);
  if (s->async) napi_async_destroy(env, s->async);
  s->async = NULL;
  s->on_batch = s->recv_ref = s->meta_ref = s->self = NULL;
  s->recv = NULL;
  s->meta = NULL;
}

static void close_socket(io_socket *s) {
  if (s->closed) return;
  s->closed = 1;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  }
  if (!s->finalized) release_refs(s);
  close(s->fd);
  s->fd = -1;
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  io_socket *s = (io_socket *)data;
  s->finalized = 1;
  if (!s->closed) {
    s->closed = 1;
    if (s->polling) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, on_poll_closed);
    }
    close(s->fd);
  }
  free_when_done(s);
}

static io_socket *socket_of(napi_env env, napi_value value) {
  io_socket *s = NULL;
  if (napi_get_value_external(env, value, (void **)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "not a native socket");
    return NULL;
  }
  if (s->closed) {
    napi_throw_error(env, "ERR_SOCKET_CLOSED", "the socket is closed");
    return NULL;
  }
  return s;
}

/* Reads a JS address (Buffer of 4 or 16 bytes) and port into a sockaddr of the socket's family. */
static int sockaddr_of(napi_env env, io_socket *s, napi_value ip, napi_value port, struct sockaddr_storage *out, socklen_t *length) {
  uint8_t *bytes;
  size_t count;
  int64_t p;
  if (!bytes_of(env, ip, &bytes, &count) || !int_of(env, port, &p)) return 0;
  if (p < 0 || p > 65535) {
    napi_throw_range_error(env, NULL, "port out of range");
    return 0;
  }
  memset(out, 0, sizeof *out);
  if (s->family == AF_INET && count == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)p);
    memcpy(&a->sin_addr, bytes, 4);
    *length = sizeof *a;
    return 1;
  }
  if (s->family == AF_INET6 && count == 16) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)p);
    memcpy(&a->sin6_addr, bytes, 16);
    *length = sizeof *a;
    return 1;
  }
  napi_throw_range_error(env, NULL, "address does not match the socket's family");
  return 0;
}

/* open(family 4|6, address Buffer, port, receiveBufferBytes, sendBufferBytes) -> external, or -errno */
static napi_value io_open(napi_env env, napi_callback_info info) {
  ARGUMENTS(5, "open");
  int64_t family, rcvbuf, sndbuf;
  if (!int_of(env, argv[0], &family) || !int_of(env, argv[3], &rcvbuf) || !int_of(env, argv[4], &sndbuf)) return NULL;
  if (family != 4 && family != 6) return throw_range(env, "family must be 4 or 6");
  if (rcvbuf < 0 || rcvbuf > (1 << 30) || sndbuf < 0 || sndbuf > (1 << 30)) return throw_range(env, "buffer size out of range");

  io_socket *s = calloc(1, sizeof *s);
  if (!s) return throw_range(env, "out of memory");
  s->family = family == 4 ? AF_INET : AF_INET6;
  s->env = env;
  s->gso = 1;
  s->fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    int err = errno;
    free(s);
    return number(env, -err);
  }
  struct sockaddr_storage addr;
  socklen_t length;
  if (!sockaddr_of(env, s, argv[1], argv[2], &addr, &length)) {
    close(s->fd);
    free(s);
    return NULL;
  }
  if (s->family == AF_INET6) {
    int off = 0;
    setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (bind(s->fd, (struct sockaddr *)&addr, length) != 0) {
    int err = errno;
    close(s->fd);
    free(s);
    return number(env, -err);
  }
  /* Sizes the OS refuses fall back to its defaults, as dgram's setRecvBufferSize does. */
  int size = (int)rcvbuf;
  if (size > 0) setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  size = (int)sndbuf;
  if (size > 0) setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int on = 1;
  s->gro = setsockopt(s->fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0;

  napi_value external;
  if (napi_create_external(env, s, finalize_socket, NULL, &external) != napi_ok) {
    close(s->fd);
    free(s);
    return NULL;
  }
  return external;
}

/* connect(socket, address, port) -> 0 or -errno: datagrams from elsewhere are filtered by the kernel,
 * and an ICMP port unreachable comes back as ECONNREFUSED. */
static napi_value io_connect(napi_env env, napi_callback_info info) {
  SOCKET_ARGUMENTS(3, "connect");
  struct sockaddr_storage addr;
  socklen_t length;
  if (!sockaddr_of(env, s, argv[1], argv[2], &addr, &length)) return NULL;
  if (connect(s->fd, (struct sockaddr *)&addr, length) != 0) return number(env, -errno);
  s->connected = 1;
  return number(env, 0);
}

/* address(socket) -> [port, family, a0, a1, a2, a3] of the bound address. */
static napi_value io_address(napi_env env, napi_callback_info info) {
  SOCKET_ARGUMENTS(1, "address");
  struct sockaddr_storage addr;
  socklen_t length = sizeof addr;
  if (getsockname(s->fd, (struct sockaddr *)&addr, &length) != 0) return number(env, -errno);
  napi_value array;
  CHECK(napi_create_array_with_length(env, 6, &array));
  uint8_t raw[16] = {0};
  int port = 0;
  if (addr.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&addr;
    port = ntohs(a->sin_port);
    memcpy(raw, &a->sin_addr, 4);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
    port = ntohs(a->sin6_port);
    memcpy(raw, &a->sin6_addr, 16);
  }
  int32_t words[6];
  words[0] = port;
  words[1] = addr.ss_family == AF_INET ? 4 : 6;
  memcpy(&words[2], raw, 16);
  for (uint32_t i = 0; i < 6; i++) {
    napi_value v;
    CHECK(napi_create_int32(env, words[i], &v));
    CHECK(napi_set_element(env, array, i, v));
  }
  return array;
}

/* Writes one descriptor; the address words hold the raw bytes (network order). */
static void describe(io_socket *s, size_t offset, size_t length, const struct sockaddr_storage *from) {
  int32_t *d = s->meta + s->meta_count * META_FIELDS;
  d[0] = (int32_t)offset;
  d[1] = (int32_t)length;
  memset(&d[4], 0, 16);
  if (from->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)from;
    d[2] = ntohs(a->sin_port);
    d[3] = 4;
    memcpy(&d[4], &a->sin_addr, 4);
  } else {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
    d[2] = ntohs(a->sin6_port);
    d[3] = 6;
    memcpy(&d[4], &a->sin6_addr, 16);
  }
  s->meta_count++;
}

/* Calls JS with the descriptors gathered so far (or a negative errno); false if JS closed the socket. */
static int deliver(io_socket *s, int32_t value) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value callback, global, arg, result;
  int ok = napi_get_reference_value(env, s->on_batch, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok &&
           napi_create_int32(env, value, &arg) == napi_ok;
  s->meta_count = 0;
  if (ok) {
    napi_status status = napi_make_callback(env, s->async, global, callback, 1, &arg, &result);
    if (status == napi_pending_exception) {
      napi_value exception;
      napi_get_and_clear_last_exception(env, &exception);
      napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
  return !s->closed;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  io_socket *s = (io_socket *)handle->data;
  if (s->closed) return;
  if (status < 0) {
    /* A pending socket error (an ICMP port unreachable on a connected socket) raises POLLERR, and
     * libuv stops the handle on it: read and clear the error, tell JS, and poll again. */
    int err = 0;
    socklen_t length = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &length);
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (err != 0) deliver(s, -err);
    return;
  }
  if (!(events & UV_READABLE)) return;
  struct mmsghdr msgs[RECV_BATCH];
  struct iovec iov[RECV_BATCH];
  struct sockaddr_storage from[RECV_BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control[RECV_BATCH];
  size_t capacity = s->meta_capacity;
  for (int round = 0; round < RECV_ROUNDS && !s->closed; round++) {
    for (int i = 0; i < RECV_BATCH; i++) {
      iov[i].iov_base = s->recv + (size_t)i * RECV_SLOT;
      iov[i].iov_len = RECV_SLOT;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_control = control[i].buf;
      msgs[i].msg_hdr.msg_controllen = sizeof control[i].buf;
    }
    int n = recvmmsg(s->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      /* ECONNREFUSED and the like: tell JS, and keep polling (the next read clears the error). */
      deliver(s, -errno);
      return;
    }
    for (int i = 0; i < n && !s->closed; i++) {
      struct msghdr *m = &msgs[i].msg_hdr;
      size_t length = msgs[i].msg_len;
      if (m->msg_flags & MSG_TRUNC) {
        s->truncated++;
        continue;
      }
      size_t segment = length;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          int size;
          memcpy(&size, CMSG_DATA(c), sizeof size);
          if (size > 0 && (size_t)size < length) segment = (size_t)size;
        }
      }
      if (segment < length) s->gro_trains++;
      size_t base = (size_t)i * RECV_SLOT;
      /* At least one descriptor, so an empty datagram reaches JS too (to be dropped and counted there). */
      size_t at = 0;
      do {
        size_t piece = length - at < segment ? length - at : segment;
        describe(s, base + at, piece, &from[i]);
        /* A full table goes to JS now; the slots stay untouched until the next recvmmsg. */
        if (s->meta_count == capacity && !deliver(s, (int32_t)capacity)) return;
        at += segment;
      } while (at < length);
    }
    if (s->meta_count > 0 && !deliver(s, (int32_t)s->meta_count)) return;
    if (n < RECV_BATCH) return;
  }
}

/* start(socket, receiveBuffer, descriptors Int32Array, onBatch) -> undefined. */
static napi_value io_start(napi_env env, napi_callback_info info) {
  SOCKET_ARGUMENTS(4, "start");
  if (s->polling) return throw_range(env, "the socket is receiving already");
  uint8_t *recv, *meta;
  size_t recv_length, meta_length;
  if (!bytes_of(env, argv[1], &recv, &recv_length) || !bytes_of(env, argv[2], &meta, &meta_length)) return NULL;
  if (recv_length < (size_t)RECV_BATCH * RECV_SLOT) return throw_range(env, "receive buffer too small");
  if (((uintptr_t)meta & 3) != 0 || meta_length < META_FIELDS * sizeof(int32_t) * 64) return throw_range(env, "descriptor table too small");
  napi_valuetype type;
  CHECK(napi_typeof(env, argv[3], &type));
  if (type != napi_function) return throw_range(env, "onBatch must be a function");
  s->recv = recv;
  s->meta = (int32_t *)meta;
  s->meta_capacity = meta_length / (META_FIELDS * sizeof(int32_t));
  CHECK(napi_create_reference(env, argv[1], 1, &s->recv_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &s->meta_ref));
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_batch));
  CHECK(napi_create_reference(env, argv[0], 1, &s->self));
  napi_value resource_name;
  CHECK(napi_create_string_utf8(env, "bittrrt:udp", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, NULL, resource_name, &s->async));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &s->poll, s->fd) != 0) return throw_range(env, "cannot poll the socket");
  s->poll.data = s;
  s->polling = 1;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  return NULL;
}

/* close(socket): stops receiving and closes the descriptor; later calls throw. */
static napi_value io_close(napi_env env, napi_callback_info info) {
  ARGUMENTS(1, "close");
  io_socket *s = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL) return throw_range(env, "not a native socket");
  close_socket(s);
  return NULL;
}

/* stats(socket) -> [gso, gro, groTrains, truncated]. A truncated datagram cannot happen (a slot holds
 * the largest UDP payload and the largest GRO train); it is counted in case a kernel proves otherwise. */
static napi_value io_stats(napi_env env, napi_callback_info info) {
  SOCKET_ARGUMENTS(1, "stats");
  napi_value array;
  CHECK(napi_create_array_with_length(env, 4, &array));
  double values[4] = {s->gso, s->gro, (double)s->gro_trains, (double)s->truncated};
  for (uint32_t i = 0; i < 4; i++) CHECK(napi_set_element(env, array, i, number(env, values[i])));
  return array;
}

/*
 * send(socket, datagrams Array<Buffer>, count, address Buffer | null, port) -> datagrams the kernel
 * took, or -errno if it took none. Runs of equal-sized datagrams (the last of a run may be shorter)
 * go out as one GSO send each; all the sends of a call go in one sendmmsg.
 */
static napi_value io_send(napi_env env, napi_callback_info info) {
  SOCKET_ARGUMENTS(5, "send");
  int64_t count;
  if (!int_of(env, argv[2], &count)) return NULL;
  uint32_t array_length;
  CHECK(napi_get_array_length(env, argv[1], &array_length));
  if (count < 0 || count > SEND_MAX || (uint32_t)count > array_length) return throw_range(env, "count out of range");
  napi_valuetype address_type;
  CHECK(napi_typeof(env, argv[3], &address_type));
  struct sockaddr_storage to;
  socklen_t to_length = 0;
  if (address_type != napi_null) {
    if (!sockaddr_of(env, s, argv[3], argv[4], &to, &to_length)) return NULL;
  } else if (!s->connected) {
    return throw_range(env, "an unconnected socket needs an address");
  }

  struct iovec iov[SEND_MAX];
  size_t lengths[SEND_MAX];
  for (uint32_t i = 0; i < (uint32_t)count; i++) {
    napi_value element;
    CHECK(napi_get_element(env, argv[1], i, &element));
    uint8_t *data;
    size_t length;
    if (!bytes_of(env, element, &data, &length)) return NULL;
    if (length == 0 || length > MAX_DATAGRAM) return throw_range(env, "datagram length out of range");
    iov[i].iov_base = data;
    iov[i].iov_len = length;
    lengths[i] = length;
  }

  size_t sent_total = 0;
  size_t next = 0;
  while (next < (size_t)count) {
    struct mmsghdr msgs[SEND_BATCH];
    union {
      char buf[CMSG_SPACE(sizeof(uint16_t))];
      struct cmsghdr align;
    } control[SEND_BATCH];
    size_t segments[SEND_BATCH];
    int messages = 0;
    size_t at = next;
    while (at < (size_t)count && messages < SEND_BATCH) {
      size_t size = lengths[at];
      size_t run = 1, bytes = size;
      if (s->gso) {
        while (at + run < (size_t)count && run < GSO_MAX_SEGMENTS && lengths[at + run] <= size && bytes + lengths[at + run] <= GSO_MAX_BYTES) {
          bytes += lengths[at + run];
          run++;
          if (lengths[at + run - 1] < size) break; /* a shorter datagram ends the run */
        }
      }
      struct msghdr *m = &msgs[messages].msg_hdr;
      memset(m, 0, sizeof *m);
      m->msg_iov = &iov[at];
      m->msg_iovlen = run;
      if (to_length) {
        m->msg_name = &to;
        m->msg_namelen = to_length;
      }
      if (run > 1) {
        m->msg_control = control[messages].buf;
        m->msg_controllen = sizeof control[messages].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(m);
        c->cmsg_level = IPPROTO_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gso_size = (uint16_t)size;
        memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
      }
      segments[messages] = run;
      messages++;
      at += run;
    }
    int n = sendmmsg(s->fd, msgs, (unsigned)messages, MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      /* A path that cannot segment (EIO: no checksum offload) makes GSO off for good, and the batch is retried. */
      if ((err == EIO || err == EINVAL || err == EOPNOTSUPP) && s->gso && segments[0] > 1) {
        s->gso = 0;
        continue;
      }
      if (sent_total > 0) break;
      return number(env, -err);
    }
    for (int i = 0; i < n; i++) sent_total += segments[i];
    next = at;
    /* The kernel stopped part way (a full buffer, or an error on the next message): report what went. */
    if (n < messages) break;
  }
  return number(env, (double)sent_total);
}

/* ---------------------------------------------------------------------------------------------- */
/* Batch AEAD: ChaCha20-Poly1305 (IETF) from the OpenSSL inside Node                              */

static EVP_CIPHER_CTX *aead_context(void) {
  /* One per thread: a worker thread may load this addon too. */
  static __thread EVP_CIPHER_CTX *context = NULL;
  if (context == NULL) {
    context = EVP_CIPHER_CTX_new();
    if (context != NULL && EVP_CipherInit_ex(context, EVP_chacha20_poly1305(), NULL, NULL, NULL, 1) != 1) {
      EVP_CIPHER_CTX_free(context);
      context = NULL;
    }
  }
  return context;
}

/* nonce(12) || ciphertext || tag(16) from nonce(12) || plaintext || room(16), in place, under the
 * key the context already holds (set once per batch: only the nonce changes per datagram). */
static int seal_one(EVP_CIPHER_CTX *c, uint8_t *datagram, size_t length) {
  size_t text = length - AEAD_NONCE - AEAD_TAG;
  int out;
  if (EVP_CipherInit_ex(c, NULL, NULL, NULL, datagram, 1) != 1) return 0;
  if (text > 0 && (EVP_CipherUpdate(c, datagram + AEAD_NONCE, &out, datagram + AEAD_NONCE, (int)text) != 1 || (size_t)out != text)) return 0;
  if (EVP_CipherFinal_ex(c, datagram + AEAD_NONCE + text, &out) != 1) return 0;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG, datagram + AEAD_NONCE + text) == 1;
}

/* Opens nonce || ciphertext || tag into out (length - 28 bytes); 1 if the tag verified. */
static int open_one(EVP_CIPHER_CTX *c, const uint8_t *key, const uint8_t *datagram, size_t length, uint8_t *out) {
  size_t text = length - AEAD_NONCE - AEAD_TAG;
  uint8_t tag[AEAD_TAG];
  int written;
  memcpy(tag, datagram + length - AEAD_TAG, AEAD_TAG);
  if (EVP_CipherInit_ex(c, NULL, NULL, key, datagram, 0) != 1) return 0;
  if (text > 0 && (EVP_CipherUpdate(c, out, &written, datagram + AEAD_NONCE, (int)text) != 1 || (size_t)written != text)) return 0;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG, tag) != 1) return 0;
  return EVP_CipherFinal_ex(c, out + text, &written) == 1;
}

/*
 * seal(key, datagrams Array<Buffer>, count) -> undefined. Each datagram holds its nonce, its
 * plaintext and 16 bytes of room for the tag, and is sealed in place.
 */
static napi_value io_seal(napi_env env, napi_callback_info info) {
  ARGUMENTS(3, "seal");
  uint8_t *key;
  size_t key_length;
  if (!bytes_of(env, argv[0], &key, &key_length)) return NULL;
  if (key_length != AEAD_KEY) return throw_range(env, "key must be 32 bytes");
  int64_t count;
  uint32_t array_length;
  if (!int_of(env, argv[2], &count)) return NULL;
  CHECK(napi_get_array_length(env, argv[1], &array_length));
  if (count < 0 || (uint64_t)count > array_length) return throw_range(env, "count out of range");
  EVP_CIPHER_CTX *c = aead_context();
  if (!c) return throw_range(env, "ChaCha20-Poly1305 is unavailable");
  if (count > 0 && EVP_CipherInit_ex(c, NULL, NULL, key, NULL, 1) != 1) return throw_range(env, "sealing failed");
  for (uint32_t i = 0; i < (uint32_t)count; i++) {
    napi_value element;
    CHECK(napi_get_element(env, argv[1], i, &element));
    uint8_t *data;
    size_t length;
    if (!bytes_of(env, element, &data, &length)) return NULL;
    if (length < AEAD_NONCE + AEAD_TAG || length > MAX_DATAGRAM) return throw_range(env, "datagram length out of range");
    if (!seal_one(c, data, length)) return throw_range(env, "sealing failed");
  }
  return NULL;
}

/*
 * openDatagram(key, datagram, out) -> plaintext length, or -1 if it does not authenticate. `out` holds at
 * least datagram.length - 28 bytes.
 */
static napi_value io_open_datagram(napi_env env, napi_callback_info info) {
  ARGUMENTS(3, "openDatagram");
  uint8_t *key, *data, *out;
  size_t key_length, length, out_length;
  if (!bytes_of(env, argv[0], &key, &key_length) || !bytes_of(env, argv[1], &data, &length) || !bytes_of(env, argv[2], &out, &out_length)) return NULL;
  if (key_length != AEAD_KEY) return throw_range(env, "key must be 32 bytes");
  if (length < AEAD_NONCE + AEAD_TAG || length > MAX_DATAGRAM) return number(env, -1);
  if (out_length < length - AEAD_NONCE - AEAD_TAG) return throw_range(env, "output buffer too small");
  EVP_CIPHER_CTX *c = aead_context();
  if (!c) return throw_range(env, "ChaCha20-Poly1305 is unavailable");
  int ok = open_one(c, key, data, length, out);
  if (!ok) {
    OPENSSL_cleanse(out, length - AEAD_NONCE - AEAD_TAG);
    return number(env, -1);
  }
  return number(env, (double)(length - AEAD_NONCE - AEAD_TAG));
}

/* addressName(descriptors Int32Array, index) -> the address of descriptor `index`, as inet_ntop writes it. */
static napi_value io_address_name(napi_env env, napi_callback_info info) {
  ARGUMENTS(2, "addressName");
  uint8_t *meta;
  size_t meta_length;
  int64_t index;
  if (!bytes_of(env, argv[0], &meta, &meta_length) || !int_of(env, argv[1], &index)) return NULL;
  if (((uintptr_t)meta & 3) != 0 || index < 0 || (uint64_t)(index + 1) * META_FIELDS * sizeof(int32_t) > meta_length) return throw_range(env, "index out of range");
  const int32_t *d = (const int32_t *)meta + index * META_FIELDS;
  char name[INET6_ADDRSTRLEN];
  if (inet_ntop(d[3] == 4 ? AF_INET : AF_INET6, &d[4], name, sizeof name) == NULL) return throw_range(env, "not an address");
  napi_value result;
  CHECK(napi_create_string_latin1(env, name, NAPI_AUTO_LENGTH, &result));
  return result;
}

/* addressBytes(family 4|6, text) -> Buffer of 4 or 16 bytes, or null if `text` is not an address of
 * that family (an IPv4 address for an IPv6 socket is mapped, ::ffff:a.b.c.d). */
static napi_value io_address_bytes(napi_env env, napi_callback_info info) {
  ARGUMENTS(2, "addressBytes");
  int64_t family;
  if (!int_of(env, argv[0], &family)) return NULL;
  char text[INET6_ADDRSTRLEN + 8];
  size_t length;
  CHECK(napi_get_value_string_latin1(env, argv[1], text, sizeof text, &length));
  napi_value result;
  if (length >= sizeof text - 1) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  uint8_t bytes[16];
  size_t size = family == 4 ? 4 : 16;
  int ok = inet_pton(family == 4 ? AF_INET : AF_INET6, text, bytes) == 1;
  if (!ok && family == 6) {
    uint8_t v4[4];
    if (inet_pton(AF_INET, text, v4) == 1) {
      memset(bytes, 0, 10);
      bytes[10] = bytes[11] = 0xff;
      memcpy(bytes + 12, v4, 4);
      ok = 1;
    }
  }
  if (!ok) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  void *data;
  CHECK(napi_create_buffer_copy(env, size, bytes, &data, &result));
  return result;
}

#define EXPORT(name, fn)                                                                             \
  do {                                                                                             \
    napi_value f;                                                                                  \
    CHECK(napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f));                         \
    CHECK(napi_set_named_property(env, exports, name, f));                                         \
  } while (0)

static napi_value init(napi_env env, napi_value exports) {
  EXPORT("open", io_open);
  EXPORT("connect", io_connect);
  EXPORT("address", io_address);
  EXPORT("start", io_start);
  EXPORT("close", io_close);
  EXPORT("stats", io_stats);
  EXPORT("send", io_send);
  EXPORT("seal", io_seal);
  EXPORT("openDatagram", io_open_datagram);
  EXPORT("addressName", io_address_name);
  EXPORT("addressBytes", io_address_bytes);
  napi_value constants;
  CHECK(napi_create_object(env, &constants));
  CHECK(napi_set_named_property(env, constants, "RECV_BATCH", number(env, RECV_BATCH)));
  CHECK(napi_set_named_property(env, constants, "RECV_SLOT", number(env, RECV_SLOT)));
  CHECK(napi_set_named_property(env, constants, "META_FIELDS", number(env, META_FIELDS)));
  CHECK(napi_set_named_property(env, constants, "SEND_MAX", number(env, SEND_MAX)));
  CHECK(napi_set_named_property(env, exports, "constants", constants));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
