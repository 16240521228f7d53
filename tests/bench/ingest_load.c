/* picket_bench_ingest_load: many simulated devices PUT pcap chunks, for
 * tests/bench/ingest_bench.py (the collector beside nginx).
 *
 * Every device keeps exactly one PUT in flight, as picketd's uploader does:
 *   PUT {url}/v1/devices/<device>/chunks/<seq>   seq 0, 1, 2, ... per device
 * with the headers the collector requires (Digest: sha-256=<base64>,
 * Content-Type: application/vnd.tcpdump.pcap, Authorization: Bearer <token>
 * when given) and, like picketd, "Expect: 100-continue" for bodies of 1 MiB
 * or more ("Expect:" below that). All devices share one libcurl multi handle
 * and one copy of the body (--body FILE, read once; --digest is its
 * base64 SHA-256, computed by the driver).
 *
 *   2xx         next seq at once
 *   429, 503    the same seq after Retry-After seconds (1 when missing)
 *   other HTTP  counted; the next seq after 100 ms (a refusal would repeat)
 *   no answer   (connect/send/receive error) the same seq after 100 ms
 *
 * Several --url (collectors sharing one store): like picketd, each device
 * ranks them by rendezvous hashing (the first 8 bytes of SHA-256 of
 * "<device>\0<url>", highest first; src/common/rendezvous.cc) and uses its
 * first; a 429, 503 or no answer moves it to its next (fail over), a 2xx
 * keeps it where it is.
 *
 * Bounded: no request starts after --seconds; requests still running at
 * --seconds + 30 are aborted and counted. Only loopback URLs are accepted.
 * Latency is per attempt (libcurl's total time of one transfer: connect if
 * any, headers, 100-continue, body, answer), of 2xx answers only; waits for
 * Retry-After are not in it. chunks/s and MB/s divide by the time from the
 * first request to the last answer (the drain after --seconds included).
 *
 * usage: picket_bench_ingest_load --url http://127.0.0.1:PORT --body FILE --digest B64
 *          [--devices N] [--seconds S] [--token T | --tokens FILE] [--device-prefix P]
 *          [--spread-sources] [--seqs-file FILE]
 *   --url: up to 8 times (see above).
 *   --tokens FILE: "<device> <token>" lines; the first N name the devices.
 *   --spread-sources: device i connects from 127.0.0.(2 + i % 249).
 *   --seqs-file FILE: at the end, "<device> <next seq> <first-choice url index>"
 *     lines (seqs below it were acknowledged; a PUT still running when the run
 *     ended may have stored <next seq> too).
 * Prints one line of JSON ("per_url_ok": 2xx answers of each --url).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <openssl/sha.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { kMaxDevices = 100000, kMaxIdLen = 64, kMaxOtherNotes = 4, kMaxUrls = 8 };
static const double kMaxSeconds = 3600.0;
static const double kStragglerSeconds = 30.0;
static const double kErrorBackoff = 0.1;
static const curl_off_t kExpectContinueBytes = 1 << 20; /* as src/upload/curl_uploader.cc */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char* what) {
  fprintf(stderr, "picket_bench_ingest_load: %s\n", what);
  exit(2);
}

static void* xcalloc(size_t n, size_t size) {
  void* p = calloc(n, size);
  if (!p) die("out of memory");
  return p;
}

struct device {
  CURL* easy;
  struct curl_slist* headers;
  char id[kMaxIdLen + 1];
  char* token;
  char source[40]; /* CURLOPT_INTERFACE "host!127.0.0.x" or "" */
  uint64_t seq;
  int order[kMaxUrls]; /* --url indexes, best first (rendezvous) */
  int pick;            /* position in order[] now used */
  int at_url;          /* the --url index of the attempt in flight */
  curl_off_t offset; /* read position in the shared body */
  double wake;       /* when it may start again (monotonic s) */
  int busy;          /* a transfer is in the multi handle */
  char url[512];
  char error[CURL_ERROR_SIZE];
  char answer[200]; /* the start of a non-2xx answer, for the report */
  size_t answer_len;
};

/* The body every device sends. */
static const char* g_body;
static curl_off_t g_body_len;

static size_t read_body(char* out, size_t size, size_t n, void* p) {
  struct device* d = p;
  curl_off_t left = g_body_len - d->offset;
  size_t want = size * n;
  if ((curl_off_t)want > left) want = (size_t)left;
  memcpy(out, g_body + d->offset, want);
  d->offset += (curl_off_t)want;
  return want;
}

static int seek_body(void* p, curl_off_t offset, int origin) {
  struct device* d = p;
  if (origin != SEEK_SET || offset < 0 || offset > g_body_len) return CURL_SEEKFUNC_CANTSEEK;
  d->offset = offset;
  return CURL_SEEKFUNC_OK;
}

static size_t keep_answer(char* data, size_t size, size_t n, void* p) {
  struct device* d = p;
  size_t room = sizeof d->answer - 1 - d->answer_len;
  size_t take = size * n < room ? size * n : room;
  memcpy(d->answer + d->answer_len, data, take);
  d->answer_len += take;
  d->answer[d->answer_len] = '\0';
  return size * n;
}

/* Devices waiting for their wake time: a binary min-heap on wake. */
struct heap {
  struct device** at;
  size_t n;
};

static void heap_push(struct heap* h, struct device* d) {
  size_t i = h->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->at[parent]->wake <= d->wake) break;
    h->at[i] = h->at[parent];
    i = parent;
  }
  h->at[i] = d;
}

static struct device* heap_pop(struct heap* h) {
  struct device* top = h->at[0];
  struct device* last = h->at[--h->n];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && h->at[child + 1]->wake < h->at[child]->wake) ++child;
    if (last->wake <= h->at[child]->wake) break;
    h->at[i] = h->at[child];
    i = child;
  }
  if (h->n > 0) h->at[i] = last;
  return top;
}

static int g_urls;
static char g_base[kMaxUrls][256];

static uint64_t rendezvous_weight(const char* device, const char* url) {
  char pair[kMaxIdLen + 1 + 256 + 1];
  size_t n = strlen(device), m = strlen(url);
  memcpy(pair, device, n);
  pair[n] = '\0';
  memcpy(pair + n + 1, url, m);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char*)pair, n + 1 + m, digest);
  uint64_t w = 0;
  for (int i = 0; i < 8; ++i) w = (w << 8) | digest[i];
  return w;
}

/* Ranks the --urls for device d, best first (ties: the smaller URL first). */
static void rank_urls(struct device* d) {
  uint64_t weight[kMaxUrls];
  for (int i = 0; i < g_urls; ++i) {
    weight[i] = rendezvous_weight(d->id, g_base[i]);
    d->order[i] = i;
  }
  for (int i = 1; i < g_urls; ++i) { /* insertion sort: at most 8 */
    int x = d->order[i], j = i - 1;
    while (j >= 0 && (weight[d->order[j]] < weight[x] ||
                      (weight[d->order[j]] == weight[x] && strcmp(g_base[d->order[j]], g_base[x]) > 0))) {
      d->order[j + 1] = d->order[j];
      --j;
    }
    d->order[j + 1] = x;
  }
}

struct totals {
  uint64_t ok, s429, s503, other, errors, aborted, ok_bytes;
  uint64_t url_ok[kMaxUrls];
  uint32_t* latency_us; /* of 2xx answers */
  size_t latencies, latency_cap;
  char first_error[512];
  char other_notes[kMaxOtherNotes][512];
  int notes;
};

static void add_latency(struct totals* t, curl_off_t us) {
  if (t->latencies == t->latency_cap) {
    t->latency_cap = t->latency_cap ? 2 * t->latency_cap : 65536;
    t->latency_us = realloc(t->latency_us, t->latency_cap * sizeof *t->latency_us);
    if (!t->latency_us) die("out of memory");
  }
  t->latency_us[t->latencies++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)(us < 0 ? 0 : us);
}

static int by_value(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return (x > y) - (x < y);
}

static double percentile_ms(const struct totals* t, double q) {
  if (t->latencies == 0) return -1;
  size_t i = (size_t)(q * (double)t->latencies);
  if (i >= t->latencies) i = t->latencies - 1;
  return t->latency_us[i] / 1000.0;
}

static void json_string(FILE* f, const char* s) {
  fputc('"', f);
  for (; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* Only loopback: http://127.x.y.z[:port], http://localhost[:port], http://[::1][:port]. */
static int loopback_url(const char* url) {
  const char* host = strstr(url, "://");
  if (!host || strncmp(url, "http://", 7) != 0) return 0;
  host += 3;
  if (strncmp(host, "127.", 4) == 0) {
    unsigned a, b, c, dd;
    char rest = 0;
    int got = sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &dd, &rest);
    return (got == 4 || (got == 5 && (rest == ':' || rest == '/'))) && a == 127 && b < 256 &&
           c < 256 && dd < 256;
  }
  size_t n = strlen("localhost");
  if (strncmp(host, "localhost", n) == 0)
    return host[n] == '\0' || host[n] == ':' || host[n] == '/';
  return strncmp(host, "[::1]", 5) == 0;
}

static char* read_file(const char* path, long max, long* len) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  char* buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && n <= max && fseek(f, 0, SEEK_SET) == 0) {
      buf = xcalloc((size_t)n + 1, 1);
      if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
      } else {
        *len = n;
      }
    }
  }
  fclose(f);
  return buf;
}

/* "<device> <token>" lines (blank and '#' lines skipped) into the first n devices. */
static void read_tokens(const char* path, struct device* devs, long n) {
  long len = 0;
  char* text = read_file(path, 64L << 20, &len);
  if (!text) die("--tokens: cannot read the file");
  long i = 0;
  char* save = NULL;
  for (char* line = strtok_r(text, "\n", &save); line && i < n;
       line = strtok_r(NULL, "\n", &save)) {
    char id[kMaxIdLen + 1], token[512];
    if (line[0] == '#' || sscanf(line, "%64s %511s", id, token) != 2) continue;
    snprintf(devs[i].id, sizeof devs[i].id, "%s", id);
    devs[i].token = strdup(token);
    if (!devs[i].token) die("out of memory");
    ++i;
  }
  free(text);
  if (i < n) die("--tokens: fewer '<device> <token>' lines than --devices");
}

static void raise_file_limit(long devices) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)devices + 64 > rl.rlim_cur) {
    fprintf(stderr, "picket_bench_ingest_load: the file limit (%lu) is below --devices + 64\n",
            (unsigned long)rl.rlim_cur);
    exit(2);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: picket_bench_ingest_load --url http://127.0.0.1:PORT --body FILE --digest B64\n"
          "         [--devices N] [--seconds S] [--token T | --tokens FILE] [--device-prefix P]\n"
          "         [--spread-sources] [--seqs-file FILE]  (--url up to %d times)\n"
          "  loopback URLs only; --devices 1..%d; --seconds <= %.0f (requests still running\n"
          "  %.0f s later are aborted); prints one line of JSON\n",
          kMaxUrls, kMaxDevices, kMaxSeconds, kStragglerSeconds);
}

/* Starts device d's next attempt (same seq after a retry). */
static void start(CURLM* multi, struct device* d) {
  d->at_url = d->order[d->pick];
  snprintf(d->url, sizeof d->url, "%s/v1/devices/%s/chunks/%" PRIu64, g_base[d->at_url], d->id,
           d->seq);
  curl_easy_setopt(d->easy, CURLOPT_URL, d->url);
  d->offset = 0;
  d->answer_len = 0;
  d->answer[0] = '\0';
  d->error[0] = '\0';
  d->busy = 1;
  CURLMcode mc = curl_multi_add_handle(multi, d->easy);
  if (mc != CURLM_OK) die(curl_multi_strerror(mc));
}

/* Counts one finished attempt and decides when device d goes again. */
static void finish(struct device* d, CURLcode rc, double now, struct totals* t) {
  d->busy = 0;
  long status = 0;
  curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    ++t->errors;
    if (!t->first_error[0]) {
      snprintf(t->first_error, sizeof t->first_error, "%.200s: %.100s: %.200s", d->url,
               curl_easy_strerror(rc), d->error);
    }
    d->wake = now + kErrorBackoff;
    d->pick = (d->pick + 1) % g_urls; /* fail over */
    return;
  }
  if (status >= 200 && status < 300) {
    ++t->url_ok[d->at_url];
    curl_off_t us = 0;
    curl_easy_getinfo(d->easy, CURLINFO_TOTAL_TIME_T, &us);
    ++t->ok;
    t->ok_bytes += (uint64_t)g_body_len;
    add_latency(t, us);
    ++d->seq;
    d->wake = now;
    return;
  }
  if (status == 429 || status == 503) {
    curl_off_t retry_after = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RETRY_AFTER, &retry_after);
    if (retry_after <= 0) retry_after = 1;
    if (retry_after > 60) retry_after = 60;
    if (status == 429)
      ++t->s429;
    else
      ++t->s503;
    d->wake = now + (double)retry_after;
    d->pick = (d->pick + 1) % g_urls; /* fail over */
    return;
  }
  ++t->other;
  if (t->notes < kMaxOtherNotes) {
    snprintf(t->other_notes[t->notes++], sizeof t->other_notes[0], "%ld %.200s: %.200s", status,
             d->url, d->answer);
  }
  ++d->seq;
  d->wake = now + kErrorBackoff;
}

int main(int argc, char** argv) {
  const char *seqs_path = NULL, *body_path = NULL, *digest = NULL, *token = NULL, *tokens_path = NULL;
  const char* prefix = "bench";
  long devices = 50;
  double seconds = 10;
  int spread = 0;
  static const struct option opts[] = {{"url", required_argument, 0, 'u'},
                                       {"devices", required_argument, 0, 'n'},
                                       {"seconds", required_argument, 0, 's'},
                                       {"body", required_argument, 0, 'b'},
                                       {"digest", required_argument, 0, 'd'},
                                       {"token", required_argument, 0, 't'},
                                       {"tokens", required_argument, 0, 'T'},
                                       {"device-prefix", required_argument, 0, 'p'},
                                       {"spread-sources", no_argument, 0, 'S'},
                                       {"seqs-file", required_argument, 0, 'Q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'u':
        if (g_urls == kMaxUrls) die("--url: at most 8");
        if (!loopback_url(optarg)) die("--url: only http:// URLs on 127.0.0.0/8, localhost or [::1]");
        snprintf(g_base[g_urls], sizeof g_base[0], "%s", optarg);
        for (size_t n = strlen(g_base[g_urls]); n > 0 && g_base[g_urls][n - 1] == '/'; --n)
          g_base[g_urls][n - 1] = '\0';
        ++g_urls;
        break;
      case 'Q':
        seqs_path = optarg;
        break;
      case 'n':
        devices = strtol(optarg, NULL, 10);
        break;
      case 's':
        seconds = strtod(optarg, NULL);
        break;
      case 'b':
        body_path = optarg;
        break;
      case 'd':
        digest = optarg;
        break;
      case 't':
        token = optarg;
        break;
      case 'T':
        tokens_path = optarg;
        break;
      case 'p':
        prefix = optarg;
        break;
      case 'S':
        spread = 1;
        break;
      case 'h':
        usage();
        return 0;
      default:
        usage();
        return 2;
    }
  }
  if (g_urls == 0 || !body_path || !digest || optind != argc) {
    usage();
    return 2;
  }
  if (devices < 1 || devices > kMaxDevices) die("--devices: out of range");
  if (!(seconds > 0 && seconds <= kMaxSeconds)) die("--seconds: out of range");
  if (token && tokens_path) die("--token and --tokens exclude each other");
  if (strlen(prefix) > 40) die("--device-prefix: longer than 40 characters");

  long body_len = 0;
  char* body = read_file(body_path, 1L << 30, &body_len);
  if (!body) die("--body: cannot read the file (or it is above 1 GiB)");
  g_body = body;
  g_body_len = body_len;

  raise_file_limit(devices);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init failed");

  struct device* devs = xcalloc((size_t)devices, sizeof *devs);
  if (tokens_path) {
    read_tokens(tokens_path, devs, devices);
  } else {
    int width = snprintf(NULL, 0, "%ld", devices - 1);
    for (long i = 0; i < devices; ++i) {
      snprintf(devs[i].id, sizeof devs[i].id, "%s-%0*ld", prefix, width, i);
      if (token) devs[i].token = strdup(token);
    }
  }
  for (long i = 0; i < devices; ++i) rank_urls(&devs[i]);
  char digest_line[256], auth_line[600];
  snprintf(digest_line, sizeof digest_line, "Digest: sha-256=%s", digest);
  const char* expect = g_body_len >= kExpectContinueBytes ? "Expect: 100-continue" : "Expect:";

  CURLM* multi = curl_multi_init();
  if (!multi) die("curl_multi_init failed");
  /* One connection per device stays open between its PUTs (keep-alive). */
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, devices + 16);

  for (long i = 0; i < devices; ++i) {
    struct device* d = &devs[i];
    d->easy = curl_easy_init();
    if (!d->easy) die("curl_easy_init failed");
    struct curl_slist* h = NULL;
    h = curl_slist_append(h, digest_line);
    h = h ? curl_slist_append(h, "Content-Type: application/vnd.tcpdump.pcap") : NULL;
    h = h ? curl_slist_append(h, expect) : NULL;
    if (h && d->token) {
      snprintf(auth_line, sizeof auth_line, "Authorization: Bearer %s", d->token);
      h = curl_slist_append(h, auth_line);
    }
    if (!h) die("out of memory");
    d->headers = h;
    CURL* e = d->easy;
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L); /* PUT */
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, g_body_len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(e, CURLOPT_READDATA, d);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_body);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, d);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, d);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 1000L); /* as picketd */
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (spread) {
      snprintf(d->source, sizeof d->source, "host!127.0.0.%ld", 2 + i % 249);
      curl_easy_setopt(e, CURLOPT_INTERFACE, d->source);
    }
  }

  struct totals t;
  memset(&t, 0, sizeof t);
  struct heap waiting = {xcalloc((size_t)devices, sizeof(struct device*)), 0};
  struct device** ready = xcalloc((size_t)devices, sizeof(struct device*));
  size_t nready = 0;
  for (long i = 0; i < devices; ++i) ready[nready++] = &devs[(size_t)i];

  const double t0 = now_s();
  const double stop_at = t0 + seconds, abort_at = stop_at + kStragglerSeconds;
  double last_answer = t0;
  long inflight = 0;
  /* Bounded by abort_at (and by a signal); every pass waits in curl_multi_poll. */
  for (;;) {
    double now = now_s();
    if (g_stop || now >= abort_at) break;
    if (now < stop_at) {
      while (waiting.n > 0 && waiting.at[0]->wake <= now) ready[nready++] = heap_pop(&waiting);
      while (nready > 0) {
        start(multi, ready[--nready]);
        ++inflight;
      }
    } else if (inflight == 0) {
      break;
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) die(curl_multi_strerror(mc));
    CURLMsg* msg;
    int queued;
    while ((msg = curl_multi_info_read(multi, &queued))) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      CURLcode rc = msg->data.result;
      char* priv = NULL;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
      struct device* d = (struct device*)priv;
      curl_multi_remove_handle(multi, e);
      --inflight;
      now = now_s();
      last_answer = now;
      finish(d, rc, now, &t);
      if (d->wake <= now)
        ready[nready++] = d;
      else
        heap_push(&waiting, d);
    }
    if (nready > 0 && now_s() < stop_at) continue;
    double until = (now_s() < stop_at ? stop_at : abort_at) - now_s();
    if (waiting.n > 0 && now_s() < stop_at) {
      double w = waiting.at[0]->wake - now_s();
      if (w < until) until = w;
    }
    int timeout_ms = until <= 0 ? 0 : until > 0.1 ? 100 : (int)(until * 1000) + 1;
    mc = curl_multi_poll(multi, NULL, 0, timeout_ms, NULL);
    if (mc != CURLM_OK) die(curl_multi_strerror(mc));
  }
  for (long i = 0; i < devices; ++i) {
    if (devs[i].busy) {
      curl_multi_remove_handle(multi, devs[i].easy);
      ++t.aborted;
    }
  }
  /* To the last answer, and at least to --seconds unless a signal ended it sooner. */
  double end = now_s();
  if (end > stop_at) end = stop_at;
  if (last_answer > end) end = last_answer;
  const double elapsed = end - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;

  qsort(t.latency_us, t.latencies, sizeof *t.latency_us, by_value);
  printf("{\"devices\":%ld,\"body_bytes\":%ld,\"seconds\":%.3f,\"ok\":%" PRIu64
         ",\"status_429\":%" PRIu64 ",\"status_503\":%" PRIu64 ",\"other_status\":%" PRIu64
         ",\"errors\":%" PRIu64 ",\"aborted\":%" PRIu64
         ",\"chunks_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
         "\"cpu_s\":%.2f,\"interrupted\":%s,\"first_error\":",
         devices, body_len, elapsed, t.ok, t.s429, t.s503, t.other, t.errors, t.aborted,
         (double)t.ok / elapsed, (double)t.ok_bytes / elapsed / 1e6, percentile_ms(&t, 0.50),
         percentile_ms(&t, 0.99), cpu, g_stop ? "true" : "false");
  json_string(stdout, t.first_error);
  printf(",\"other_notes\":[");
  for (int i = 0; i < t.notes; ++i) {
    if (i) putchar(',');
    json_string(stdout, t.other_notes[i]);
  }
  printf("],\"per_url_ok\":[");
  for (int i = 0; i < g_urls; ++i) printf("%s%" PRIu64, i ? "," : "", t.url_ok[i]);
  printf("]}\n");
  fflush(stdout);
  if (seqs_path) {
    FILE* f = fopen(seqs_path, "w");
    if (!f) die("--seqs-file: cannot create the file");
    for (long i = 0; i < devices; ++i)
      fprintf(f, "%s %" PRIu64 " %d\n", devs[i].id, devs[i].seq, devs[i].order[0]);
    if (fclose(f) != 0) die("--seqs-file: cannot write the file");
  }

  for (long i = 0; i < devices; ++i) {
    curl_easy_cleanup(devs[i].easy);
    curl_slist_free_all(devs[i].headers);
    free(devs[i].token);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  free(waiting.at);
  free(ready);
  free(devs);
  free(t.latency_us);
  free(body);
  return 0;
}
