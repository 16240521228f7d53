/* picket_bench_traffic: UDP load generator for tests/bench/capture_bench.py.
 *
 * Sends UDP datagrams to 127.0.0.1:PORT and nowhere else (the address is not a
 * parameter). A sink socket bound to that port with a tiny receive buffer is
 * never read, so excess datagrams are dropped at the socket and the kernel
 * sends no ICMP. Every run is bounded: by --seconds (at most 120) and by
 * --max-packets, whichever comes first.
 *
 * Frames on lo are 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + payload bytes; the
 * payload comes from a 4 MiB pool at a different offset for every datagram.
 * --payload random (default): pseudo-random, incompressible, like encrypted
 * traffic; --payload text: repeated log-like ASCII lines, which gzip shrinks
 * several times.
 *
 * usage: picket_bench_traffic --port P --frame BYTES [--pps R] [--seconds S]
 *                             [--max-packets N] [--batch B] [--payload random|text]
 * Prints one line of JSON with what it sent and the CPU it used.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxBatch = 64, kPoolBytes = 4 << 20, kHeaderBytes = 42 };
static const double kMaxSeconds = 120.0;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void usage(void) {
  fprintf(stderr,
          "usage: picket_bench_traffic --port P --frame BYTES [--pps R] [--seconds S]\n"
          "                            [--max-packets N] [--batch B] [--payload random|text]\n"
          "  sends to 127.0.0.1 only; --frame 60..9000 (Ethernet frame size on lo);\n"
          "  --pps 0 = as fast as possible; --seconds <= %.0f\n",
          kMaxSeconds);
}

int main(int argc, char** argv) {
  long port = 0, frame = 60, batch = 32;
  double pps = 0, seconds = 5;
  unsigned long long max_packets = 100000000ULL;
  int text = 0;
  static const struct option opts[] = {{"port", required_argument, 0, 'p'},
                                       {"frame", required_argument, 0, 'f'},
                                       {"pps", required_argument, 0, 'r'},
                                       {"seconds", required_argument, 0, 's'},
                                       {"max-packets", required_argument, 0, 'n'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"payload", required_argument, 0, 'y'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'p': port = strtol(optarg, NULL, 10); break;
      case 'f': frame = strtol(optarg, NULL, 10); break;
      case 'r': pps = strtod(optarg, NULL); break;
      case 's': seconds = strtod(optarg, NULL); break;
      case 'n': max_packets = strtoull(optarg, NULL, 10); break;
      case 'b': batch = strtol(optarg, NULL, 10); break;
      case 'y':
        if (strcmp(optarg, "text") == 0) {
          text = 1;
        } else if (strcmp(optarg, "random") != 0) {
          usage();
          return 2;
        }
        break;
      case 'h': usage(); return 0;
      default: usage(); return 2;
    }
  }
  if (port < 1024 || port > 65535 || frame < 60 || frame > 9000 || batch < 1 ||
      batch > kMaxBatch || pps < 0 || !(seconds > 0) || max_packets == 0) {
    usage();
    return 2;
  }
  if (seconds > kMaxSeconds) seconds = kMaxSeconds;

  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1, fixed */

  int sink = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int small = 4096;
  if (sink < 0 || setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) != 0 ||
      bind(sink, (struct sockaddr*)&to, sizeof to) != 0) {
    fprintf(stderr, "picket_bench_traffic: sink on 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return 1;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&to, sizeof to) != 0) {
    fprintf(stderr, "picket_bench_traffic: connect 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return 1;
  }

  const size_t payload = (size_t)(frame - kHeaderBytes);
  unsigned char* pool = malloc(kPoolBytes + 9000);
  if (!pool) return 1;
  uint64_t x = 0x9E3779B97F4A7C15ULL ^ (uint64_t)port;
  size_t filled = 0;
  while (filled < (size_t)kPoolBytes + 9000) {
    x ^= x >> 12; /* xorshift64*: cheap */
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1DULL;
    if (text) { /* a log line; only the numbers vary */
      char line[128];
      int n = snprintf(line, sizeof line,
                       "GET /api/v1/items/%u HTTP/1.1 200 %u \"Mozilla/5.0 (X11; Linux x86_64)\" %u ms\n",
                       (unsigned)(v % 100000), (unsigned)((v >> 20) % 50000), (unsigned)((v >> 40) % 1000));
      size_t take = (size_t)n;
      if (take > (size_t)kPoolBytes + 9000 - filled) take = (size_t)kPoolBytes + 9000 - filled;
      memcpy(pool + filled, line, take);
      filled += take;
    } else {
      size_t take = (size_t)kPoolBytes + 9000 - filled < 8 ? (size_t)kPoolBytes + 9000 - filled : 8;
      memcpy(pool + filled, &v, take);
      filled += take;
    }
  }

  struct mmsghdr msgs[kMaxBatch];
  struct iovec iov[kMaxBatch];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < kMaxBatch; i++) {
    iov[i].iov_len = payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  unsigned long long sent = 0, send_errors = 0;
  size_t offset = 0;
  const size_t stride = 4093; /* prime: successive payloads never line up */
  const double cpu0 = cpu_s();
  const double t0 = now_s();
  double t = t0;
  while ((t = now_s()) - t0 < seconds && sent < max_packets) {
    long n = batch;
    if (pps > 0) {
      double due = (t - t0) * pps;
      if ((double)sent >= due) {
        struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
        continue;
      }
      double behind = due - (double)sent;
      if (behind < (double)n) n = (long)behind + 1;
    }
    if ((unsigned long long)n > max_packets - sent) n = (long)(max_packets - sent);
    for (long i = 0; i < n; i++) {
      iov[i].iov_base = pool + offset;
      offset += stride;
      if (offset >= (size_t)kPoolBytes) offset -= kPoolBytes;
    }
    int r = sendmmsg(s, msgs, (unsigned)n, 0);
    if (r > 0) {
      sent += (unsigned long long)r;
    } else if (r < 0 && errno != EINTR) {
      ++send_errors;
      if (errno != ENOBUFS && errno != EAGAIN) {
        fprintf(stderr, "picket_bench_traffic: sendmmsg: %s\n", strerror(errno));
        break;
      }
    }
  }
  const double elapsed = now_s() - t0;
  const double cpu = cpu_s() - cpu0;
  printf("{\"sent\": %llu, \"seconds\": %.4f, \"pps\": %.1f, \"frame\": %ld, \"target_pps\": %.1f, "
         "\"cpu_s\": %.4f, \"send_errors\": %llu, \"payload\": \"%s\"}\n",
         sent, elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, frame, pps, cpu, send_errors,
         text ? "text" : "random");
  close(s);
  close(sink);
  free(pool);
  return 0;
}
