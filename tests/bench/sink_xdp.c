// send_path_bench's sink: an XDP program on the sink's veth that drops every
// IPv4 frame to 10.253.0.0/16 (the bench's targets) and passes the rest (ARP
// for the gateway). XDP drops before any skb or GRO work, so the sink keeps up
// with the senders it measures. Built by the bench with clang -target bpf; it
// needs no headers (the two structures are spelled out).
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

struct xdp_md {
  u32 data;
  u32 data_end;
};

enum { kXdpDrop = 1, kXdpPass = 2 };

__attribute__((section("xdp"), used)) int drop_targets(struct xdp_md* ctx) {
  const u8* data = (const u8*)(unsigned long)ctx->data;
  const u8* end = (const u8*)(unsigned long)ctx->data_end;
  if (data + 14 + 20 > end) return kXdpPass;
  if (data[12] != 0x08 || data[13] != 0x00) return kXdpPass;  // not IPv4
  const u8* dst = data + 14 + 16;
  return dst[0] == 10 && dst[1] == 253 ? kXdpDrop : kXdpPass;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
