/*
 * Batched UDP for the media plane (Linux). node:dgram costs a JS callback, a Buffer and an rinfo
 * object per datagram received, and a SendWrap per datagram sent: at 1,000 calls (100,000
 * datagrams a second) that is more of a core's time than the kernel's own work. Here the Ticker
 * reads every ready socket in one call (epoll + recvmmsg, kernel arrival times) and sends a tick's
 * packets in one call (a sendto per packet, no JS in between). Sockets stay one per call: a flood
 * at one call fills that call's receive queue only.
 *
 * Why our own C: no maintained npm package batches UDP for Node, and node:dgram cannot be made to.
 * libuv can read with recvmmsg (UV_UDP_RECVMMSG), but Node neither enables it nor avoids the JS
 * callback per datagram; and reading is driven by libuv's loop, not by our ticks.
 *
 * Every function validates its arguments and throws TypeError/RangeError naming the bad one; a
 * system call's failure is returned as -errno, never thrown, so the caller counts it and goes on.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES 2048 /* a receive slot: G.711 at 60 ms is 492 bytes; bigger is flagged oversize */
#define META 7 /* per datagram received: id, offset, length (-1 = oversize), addr, port, age µs, kernel drops */
#define MAX_EVENTS 4096
#define VLEN 8

#define NAPI(call)                                                                   \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      napi_throw_error(env, "ERR_RTP_IO", "rtp-io: N-API call failed: " #call);      \
      return NULL;                                                                   \
    }                                                                                \
  } while (0)

static napi_value number(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_RTP_IO_ARGS", "rtp-io: too few arguments");
    return 0;
  }
  return 1;
}

static int get_int(napi_env env, napi_value v, const char *name, int64_t min, int64_t max, int64_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok ||
      d != (double)(int64_t)d || d < (double)min || d > (double)max) {
    char msg[160];
    snprintf(msg, sizeof msg, "rtp-io: %s must be an integer in %lld..%lld", name, (long long)min, (long long)max);
    napi_throw_range_error(env, "ERR_RTP_IO_ARGS", msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

/* A typed array of exactly `type` (or any byte view when type is uint8: Buffer, Uint8Array). */
static void *get_array(napi_env env, napi_value v, const char *name, napi_typedarray_type type, size_t *length) {
  int is_ta = 0;
  bool b = false;
  if (napi_is_typedarray(env, v, &b) == napi_ok) is_ta = b;
  napi_typedarray_type t;
  size_t n = 0;
  void *data = NULL;
  if (is_ta && napi_get_typedarray_info(env, v, &t, &n, &data, NULL, NULL) == napi_ok && t == type) {
    *length = n;
    return data == NULL ? (void *)"" : data; /* a zero-length view has no data pointer */
  }
  char msg[120];
  snprintf(msg, sizeof msg, "rtp-io: %s must be a %s", name,
           type == napi_uint8_array ? "Uint8Array" : type == napi_int32_array ? "Int32Array" : "Uint32Array");
  napi_throw_type_error(env, "ERR_RTP_IO_ARGS", msg);
  return NULL;
}

/*
 * open(addrU32, port) -> fd | -errno: a non-blocking IPv4 UDP socket bound there, with kernel
 * arrival times and the count of datagrams the kernel dropped on a full receive queue.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value a[2];
  int64_t addr, port;
  if (!get_args(env, info, 2, a) || !get_int(env, a[0], "address", 0, UINT32_MAX, &addr) ||
      !get_int(env, a[1], "port", 0, 65535, &port))
    return NULL;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return number(env, -errno);
  int on = 1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl((uint32_t)addr);
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return number(env, -e);
  }
  return number(env, fd);
}

/* localPort(fd) -> port | -errno */
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  napi_value a[1];
  int64_t fd;
  if (!get_args(env, info, 1, a) || !get_int(env, a[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname((int)fd, (struct sockaddr *)&sa, &len) < 0) return number(env, -errno);
  return number(env, ntohs(sa.sin_port));
}

/* close(fd) -> 0 | -errno (closing also takes it out of any poller) */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value a[1];
  int64_t fd;
  if (!get_args(env, info, 1, a) || !get_int(env, a[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  return number(env, close((int)fd) < 0 ? -errno : 0);
}

static napi_value js_poller_create(napi_env env, napi_callback_info info) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return number(env, fd < 0 ? -errno : fd);
}

/* pollerAdd(epfd, fd, id) -> 0 | -errno: `id` comes back with each datagram read from `fd`. */
static napi_value js_poller_add(napi_env env, napi_callback_info info) {
  napi_value a[3];
  int64_t epfd, fd, id;
  if (!get_args(env, info, 3, a) || !get_int(env, a[0], "poller", 0, INT32_MAX, &epfd) ||
      !get_int(env, a[1], "fd", 0, INT32_MAX, &fd) || !get_int(env, a[2], "id", 0, INT32_MAX, &id))
    return NULL;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.u64 = ((uint64_t)(uint32_t)id << 32) | (uint32_t)fd;
  return number(env, epoll_ctl((int)epfd, EPOLL_CTL_ADD, (int)fd, &ev) < 0 ? -errno : 0);
}

/* sendTo(fd, bytes, addrU32, port) -> bytes sent | -errno */
static napi_value js_send_to(napi_env env, napi_callback_info info) {
  napi_value a[4];
  int64_t fd, addr, port;
  size_t len;
  if (!get_args(env, info, 4, a) || !get_int(env, a[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  uint8_t *data = get_array(env, a[1], "bytes", napi_uint8_array, &len);
  if (data == NULL || !get_int(env, a[2], "address", 0, UINT32_MAX, &addr) || !get_int(env, a[3], "port", 1, 65535, &port))
    return NULL;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl((uint32_t)addr);
  ssize_t r = sendto((int)fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa);
  return number(env, r < 0 ? -errno : (double)r);
}

/*
 * sendBatch(count, to Int32Array [fd, addr, port, offset, length] * count, data Uint8Array,
 *           errors Int32Array) -> datagrams that failed (errors[i] = errno of the i-th, 0 if sent)
 */
static napi_value js_send_batch(napi_env env, napi_callback_info info) {
  napi_value a[4];
  int64_t count;
  size_t to_len, data_len, err_len;
  if (!get_args(env, info, 4, a) || !get_int(env, a[0], "count", 0, INT32_MAX, &count)) return NULL;
  int32_t *to = get_array(env, a[1], "to", napi_int32_array, &to_len);
  if (to == NULL) return NULL;
  uint8_t *data = get_array(env, a[2], "data", napi_uint8_array, &data_len);
  if (data == NULL) return NULL;
  int32_t *errs = get_array(env, a[3], "errors", napi_int32_array, &err_len);
  if (errs == NULL) return NULL;
  if ((size_t)count * 5 > to_len || (size_t)count > err_len) {
    napi_throw_range_error(env, "ERR_RTP_IO_ARGS", "rtp-io: count exceeds the batch arrays");
    return NULL;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  int failed = 0;
  for (int64_t i = 0; i < count; i++) {
    const int32_t *t = to + 5 * i;
    if (t[3] < 0 || t[4] < 0 || (size_t)t[3] + (size_t)t[4] > data_len) {
      napi_throw_range_error(env, "ERR_RTP_IO_ARGS", "rtp-io: a batch entry lies outside data");
      return NULL;
    }
    sa.sin_addr.s_addr = htonl((uint32_t)t[1]);
    sa.sin_port = htons((uint16_t)t[2]);
    ssize_t r = sendto(t[0], data + t[3], (size_t)t[4], MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa);
    errs[i] = r < 0 ? errno : 0;
    if (r < 0) failed++;
  }
  return number(env, failed);
}

static int64_t ns_of(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec; }

/*
 * receive(epfd, data Uint8Array, meta Int32Array) -> datagrams read | -errno. Reads every socket of
 * the poller that has datagrams, until its queue is empty or data/meta are full (the rest stays
 * queued in the kernel for the next call). meta per datagram: id, offset into data, length (-1:
 * larger than a slot, dropped), source IPv4, source port, age in µs (now - kernel arrival time),
 * datagrams the kernel has dropped on this socket so far (its receive queue was full).
 */
static napi_value js_receive(napi_env env, napi_callback_info info) {
  napi_value a[3];
  int64_t epfd;
  size_t cap, meta_len;
  if (!get_args(env, info, 3, a) || !get_int(env, a[0], "poller", 0, INT32_MAX, &epfd)) return NULL;
  uint8_t *data = get_array(env, a[1], "data", napi_uint8_array, &cap);
  if (data == NULL) return NULL;
  int32_t *meta = get_array(env, a[2], "meta", napi_int32_array, &meta_len);
  if (meta == NULL) return NULL;
  size_t max_packets = meta_len / META;
  static struct epoll_event evs[MAX_EVENTS];
  struct mmsghdr msgs[VLEN];
  struct iovec iov[VLEN];
  struct sockaddr_in src[VLEN];
  char ctl[VLEN][CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t))];
  int nev = epoll_wait((int)epfd, evs, MAX_EVENTS, 0);
  if (nev < 0) return number(env, errno == EINTR ? 0 : -errno);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  size_t n = 0, pos = 0;
  for (int k = 0; k < nev; k++) {
    int32_t id = (int32_t)(evs[k].data.u64 >> 32);
    int fd = (int)(evs[k].data.u64 & 0xffffffffu);
    for (;;) {
      int v = 0;
      for (; v < VLEN && n + v < max_packets && pos + (size_t)SLOT_BYTES * (v + 1) <= cap; v++) {
        iov[v].iov_base = data + pos + (size_t)SLOT_BYTES * v;
        iov[v].iov_len = SLOT_BYTES;
        memset(&msgs[v].msg_hdr, 0, sizeof msgs[v].msg_hdr);
        msgs[v].msg_hdr.msg_iov = &iov[v];
        msgs[v].msg_hdr.msg_iovlen = 1;
        msgs[v].msg_hdr.msg_name = &src[v];
        msgs[v].msg_hdr.msg_namelen = sizeof src[v];
        msgs[v].msg_hdr.msg_control = ctl[v];
        msgs[v].msg_hdr.msg_controllen = sizeof ctl[v];
      }
      if (v == 0) return number(env, (double)n); /* full: the rest waits in the kernel */
      int r = recvmmsg(fd, msgs, (unsigned)v, MSG_DONTWAIT, NULL);
      if (r <= 0) break; /* EAGAIN: this socket is empty; other errors: try again next time */
      for (int j = 0; j < r; j++) {
        int32_t *m = meta + META * n;
        int64_t age_us = 0;
        uint32_t dropped = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[j].msg_hdr); c != NULL; c = CMSG_NXTHDR(&msgs[j].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            age_us = (ns_of(&now) - ns_of(&ts)) / 1000;
          } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
          }
        }
        int oversize = (msgs[j].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        m[0] = id;
        m[1] = (int32_t)pos;
        m[2] = oversize ? -1 : (int32_t)msgs[j].msg_len;
        m[3] = (int32_t)ntohl(src[j].sin_addr.s_addr);
        m[4] = ntohs(src[j].sin_port);
        m[5] = age_us < 0 ? 0 : age_us > INT32_MAX ? INT32_MAX : (int32_t)age_us;
        m[6] = (int32_t)(dropped & INT32_MAX); /* the socket's total so far (0 until the first drop) */
        if (!oversize) {
          if (data + pos != (uint8_t *)iov[j].iov_base) memmove(data + pos, iov[j].iov_base, msgs[j].msg_len);
          pos += (msgs[j].msg_len + 7) & ~(size_t)7;
        }
        n++;
      }
      if (r < v) break;
    }
  }
  return number(env, (double)n);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localPort", NULL, js_local_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerCreate", NULL, js_poller_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerAdd", NULL, js_poller_add, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendTo", NULL, js_send_to, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, js_send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"receive", NULL, js_receive, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI(napi_define_properties(env, exports, sizeof d / sizeof d[0], d));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
