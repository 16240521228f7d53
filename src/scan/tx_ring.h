// A PACKET_TX_RING (TPACKET_V2) on a packet socket, for the SYN scanner's packet
// send path: probes are written straight into frames the kernel maps with us,
// and one send() hands every filled frame to the driver. Against sendmmsg this
// saves, per probe, the message header and iovec copies and the per-message
// socket calls (~25% of the send path's kernel time, measured with perf).
//
// Frames come back (TP_STATUS_AVAILABLE) when the driver frees their skb, which
// on veth or a real NIC is after the send, so the ring is sized for the frames
// in flight at full rate (4,096 here: ~3 ms at 1.5 Mpps).
#pragma once

#include <cstddef>
#include <cstdint>

#include "picket/common/c_handle.h"
#include "picket/common/status.h"

namespace picket::scan {

class TxRing {
 public:
  // Takes a bound AF_PACKET socket; frames hold at most `max_frame_bytes`.
  static Result<TxRing> Open(UniqueFd socket, std::size_t max_frame_bytes, std::size_t frames);

  TxRing(TxRing&& other) noexcept;
  TxRing& operator=(TxRing&& other) noexcept;
  TxRing(const TxRing&) = delete;
  TxRing& operator=(const TxRing&) = delete;
  ~TxRing();

  // Where the next frame's bytes go (max_frame_bytes of room), or nullptr while
  // every frame is still in flight.
  std::uint8_t* NextFrame();
  // The frame NextFrame gave is `bytes` long and ready to send.
  void Commit(std::size_t bytes);
  // Sends every committed frame without waiting for the driver: how many went.
  // On an error the frames stay queued for the next Flush; `busy` says whether
  // it was the driver's queue being full (ENOBUFS, EAGAIN: worth waiting for)
  // rather than, say, the interface being down.
  Result<std::size_t> Flush(bool* busy = nullptr);
  // Waits up to `timeout_ms` for a frame to come back.
  void WaitForRoom(int timeout_ms);

  // Committed frames no Flush has sent yet.
  std::size_t pending() const { return committed_; }
  int fd() const { return socket_.get(); }

 private:
  TxRing() = default;
  void Unmap();

  UniqueFd socket_;
  std::uint8_t* ring_ = nullptr;
  std::size_t ring_bytes_ = 0;
  std::size_t frame_bytes_ = 0;
  std::size_t frames_ = 0;
  std::size_t next_ = 0;       // the frame NextFrame looks at
  std::size_t committed_ = 0;  // frames committed since the last successful Flush
};

}  // namespace picket::scan
