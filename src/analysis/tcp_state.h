// Zeek's view of a TCP connection: per-endpoint states and history letters
// (scripts/base/protocols/conn/main.zeek, TCPSessionAdapter's history),
// reduced to what one pass over the packets can tell:
//   S/s SYN, H/h SYN-ACK, A/a pure ACK, D/d payload, F/f FIN, R/r RST,
//   Q/q SYN or FIN with RST/SYN (multi-flag), I/i FIN+RST,
//   T/t retransmitted payload (seq below the highest seen), W/w zero window;
//   T and W repeat at 1, 10, 100, ... as Zeek logs them; S/H/F/R repeat when a
//   later one carries another sequence number. Upper case: originator.
// '^' leads when the first packet was a SYN-ACK (the originator was flipped).
#pragma once

#include <cstdint>
#include <string>

namespace picket::analysis {

enum class TcpEndpoint : std::uint8_t {
  kInactive, kSynSent, kSynAckSent, kPartial, kEstablished, kClosed, kReset
};

class TcpTracker {
 public:
  static constexpr std::size_t kMaxHistory = 24;

  // One packet; side 0 = originator, 1 = responder.
  void Update(int side, std::uint8_t flags, std::uint32_t seq, std::uint16_t window,
              std::uint32_t payload_len);
  void MarkFlipped() { AddLetter('^'); }
  // UDP and other protocols: D/d the first time a side sends payload.
  void NoteData(int side) { CheckOnce(side, 1 << 5, 'D'); }

  bool FinBothWays() const { return fin_seen_[0] && fin_seen_[1]; }
  bool ResetSeen() const { return state_[0] == TcpEndpoint::kReset || state_[1] == TcpEndpoint::kReset; }
  // Whether the 3-way handshake completed (a SYN-ACK after a SYN).
  bool HandshakeDone() const { return syn_seen_[0] && synack_seen_[1]; }
  bool SynSeen(int side) const { return syn_seen_[side]; }
  std::uint32_t Isn(int side) const { return isn_[side]; }

  std::string History() const { return std::string(history_, history_len_); }
  // Zeek conn_state; payload sizes decide REJ for RST both ways.
  std::string ConnState(std::uint64_t orig_payload, std::uint64_t resp_payload) const;

  // Plain fields, public so that SaveState can write them one by one.
  TcpEndpoint state_[2] = {TcpEndpoint::kInactive, TcpEndpoint::kInactive};
  bool syn_seen_[2] = {false, false};
  bool synack_seen_[2] = {false, false};
  bool fin_seen_[2] = {false, false};
  bool seq_known_[2] = {false, false};
  std::uint32_t isn_[2] = {0, 0};
  std::uint32_t max_seq_end_[2] = {0, 0};
  std::uint32_t last_syn_[2] = {0, 0}, last_fin_[2] = {0, 0}, last_rst_[2] = {0, 0};
  std::uint16_t once_[2] = {0, 0};  // letters already logged, per side
  std::uint32_t retransmits_[2] = {0, 0};
  std::uint32_t zero_windows_[2] = {0, 0};
  char history_[kMaxHistory] = {};
  std::uint8_t history_len_ = 0;

 private:
  void AddLetter(char letter);
  // Logs `letter` (case by side) the first time; returns whether it was seen before.
  bool CheckOnce(int side, std::uint16_t bit, char letter);
  void CheckCounted(int side, std::uint32_t& count, char letter);
};

}  // namespace picket::analysis
