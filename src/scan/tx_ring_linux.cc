#include "scan/tx_ring.h"

#include <endian.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace picket::scan {
namespace {

// The payload of a TPACKET_V2 TX frame starts here (the kernel's tp_hdrlen minus
// the sockaddr_ll it reserves only on receive), unless PACKET_TX_HAS_OFF is set.
constexpr std::size_t kDataOffset = TPACKET2_HDRLEN - sizeof(sockaddr_ll);
constexpr std::size_t kBlockBytes = 4096;
// Every frame starts with a virtio_net_hdr whose hdr_len is the whole frame: the
// kernel then copies the frame into the skb's linear part. Without it, all but
// the Ethernet header is attached as pages of the ring, which a veth (or any
// forward into another namespace) copies again page by page (35% of the send
// path under perf), and which holds the frame until the receiver is done.
// (linux/virtio_net.h is not valid C++: a member is named `class`.)
struct VirtioNetHeader {
  std::uint8_t flags;
  std::uint8_t gso_type;  // 0: VIRTIO_NET_HDR_GSO_NONE
  std::uint16_t hdr_len;  // little-endian
  std::uint16_t gso_size;
  std::uint16_t csum_start;
  std::uint16_t csum_offset;
};
static_assert(sizeof(VirtioNetHeader) == 10);
constexpr std::size_t kVnetBytes = sizeof(VirtioNetHeader);

tpacket2_hdr* Header(std::uint8_t* frame) { return reinterpret_cast<tpacket2_hdr*>(frame); }

// tp_status is shared with the kernel: read with acquire, written with release
// so the frame's bytes are visible before the kernel sees SEND_REQUEST.
std::uint32_t LoadStatus(std::uint8_t* frame) {
  return std::atomic_ref<std::uint32_t>(Header(frame)->tp_status).load(std::memory_order_acquire);
}
void StoreStatus(std::uint8_t* frame, std::uint32_t status) {
  std::atomic_ref<std::uint32_t>(Header(frame)->tp_status).store(status, std::memory_order_release);
}

}  // namespace

Result<TxRing> TxRing::Open(UniqueFd socket, std::size_t max_frame_bytes, std::size_t frames) {
  TxRing ring;
  ring.socket_ = std::move(socket);
  const int version = TPACKET_V2;
  if (::setsockopt(ring.fd(), SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
    return FromErrno("PACKET_VERSION TPACKET_V2", errno);
  }
  const int vnet = 1;
  if (::setsockopt(ring.fd(), SOL_PACKET, PACKET_VNET_HDR, &vnet, sizeof vnet) != 0) {
    return FromErrno("PACKET_VNET_HDR", errno);
  }
  std::size_t frame_bytes = TPACKET_ALIGN(kDataOffset + kVnetBytes + max_frame_bytes);
  while (kBlockBytes % frame_bytes != 0) frame_bytes += TPACKET_ALIGNMENT;  // whole frames a block
  const std::size_t per_block = kBlockBytes / frame_bytes;
  const std::size_t blocks = (frames + per_block - 1) / per_block;
  tpacket_req req{};
  req.tp_block_size = kBlockBytes;
  req.tp_block_nr = static_cast<unsigned>(blocks);
  req.tp_frame_size = static_cast<unsigned>(frame_bytes);
  req.tp_frame_nr = static_cast<unsigned>(blocks * per_block);
  if (::setsockopt(ring.fd(), SOL_PACKET, PACKET_TX_RING, &req, sizeof req) != 0) {
    return FromErrno("PACKET_TX_RING", errno);
  }
  ring.ring_bytes_ = blocks * kBlockBytes;
  void* at = ::mmap(nullptr, ring.ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, ring.fd(), 0);
  if (at == MAP_FAILED) return FromErrno("mmap PACKET_TX_RING", errno);
  ring.ring_ = static_cast<std::uint8_t*>(at);
  ring.frame_bytes_ = frame_bytes;
  ring.frames_ = req.tp_frame_nr;
  return ring;
}

TxRing::TxRing(TxRing&& other) noexcept { *this = std::move(other); }

TxRing& TxRing::operator=(TxRing&& other) noexcept {
  if (this != &other) {
    Unmap();
    socket_ = std::move(other.socket_);
    ring_ = std::exchange(other.ring_, nullptr);
    ring_bytes_ = std::exchange(other.ring_bytes_, 0);
    frame_bytes_ = other.frame_bytes_;
    frames_ = other.frames_;
    next_ = other.next_;
    committed_ = other.committed_;
  }
  return *this;
}

TxRing::~TxRing() { Unmap(); }

void TxRing::Unmap() {
  if (ring_ != nullptr) ::munmap(ring_, ring_bytes_);
  ring_ = nullptr;
}

std::uint8_t* TxRing::NextFrame() {
  std::uint8_t* frame = ring_ + next_ * frame_bytes_;
  if (LoadStatus(frame) != TP_STATUS_AVAILABLE) return nullptr;
  return frame + kDataOffset + kVnetBytes;
}

void TxRing::Commit(std::size_t bytes) {
  std::uint8_t* frame = ring_ + next_ * frame_bytes_;
  VirtioNetHeader vnet{};
  vnet.hdr_len = htole16(static_cast<std::uint16_t>(bytes));
  std::memcpy(frame + kDataOffset, &vnet, sizeof vnet);
  Header(frame)->tp_len = static_cast<std::uint32_t>(kVnetBytes + bytes);
  StoreStatus(frame, TP_STATUS_SEND_REQUEST);
  next_ = (next_ + 1) % frames_;
  ++committed_;
}

Result<std::size_t> TxRing::Flush(bool* busy) {
  if (committed_ == 0) return std::size_t{0};
  if (::send(fd(), nullptr, 0, MSG_DONTWAIT) < 0) {
    const int e = errno;
    if (busy != nullptr) *busy = e == ENOBUFS || e == EAGAIN || e == EINTR;
    return FromErrno("send PACKET_TX_RING", e);
  }
  return std::exchange(committed_, 0);
}

void TxRing::WaitForRoom(int timeout_ms) {
  pollfd p{fd(), POLLOUT, 0};
  ::poll(&p, 1, timeout_ms);
}

}  // namespace picket::scan
