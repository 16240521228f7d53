#include "analysis/tcp_state.h"

#include <cctype>

#include "analysis/packet_decoder.h"

namespace picket::analysis {
namespace {

enum : std::uint16_t {
  kBitSyn = 1 << 0, kBitSynAck = 1 << 1, kBitFin = 1 << 2, kBitRst = 1 << 3,
  kBitAck = 1 << 4, kBitData = 1 << 5, kBitMulti = 1 << 6, kBitFinRst = 1 << 7,
};

// Serial-number arithmetic (RFC 1982): a before b.
bool SeqBefore(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }

bool InSynStates(TcpEndpoint s) {
  return s == TcpEndpoint::kSynSent || s == TcpEndpoint::kSynAckSent;
}

}  // namespace

void TcpTracker::AddLetter(char letter) {
  if (history_len_ < kMaxHistory) history_[history_len_++] = letter;
}

bool TcpTracker::CheckOnce(int side, std::uint16_t bit, char letter) {
  if (once_[side] & bit) return true;
  once_[side] |= bit;
  AddLetter(side == 0 ? letter : static_cast<char>(std::tolower(letter)));
  return false;
}

void TcpTracker::CheckCounted(int side, std::uint32_t& count, char letter) {
  ++count;
  // Zeek's logarithmic repeats: the 1st, 10th, 100th, ... occurrence.
  for (std::uint32_t mark = 1; mark <= count; mark *= 10) {
    if (mark == count) {
      AddLetter(side == 0 ? letter : static_cast<char>(std::tolower(letter)));
      return;
    }
    if (mark > 100'000'000) return;
  }
}

void TcpTracker::Update(int side, std::uint8_t flags, std::uint32_t seq, std::uint16_t window,
                        std::uint32_t payload_len) {
  const int peer = 1 - side;
  const bool syn = flags & kTcpSyn, fin = flags & kTcpFin, rst = flags & kTcpRst;
  const bool ack = flags & kTcpAck;

  // History, as Zeek's update_history.
  const int bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
  if (bits > 1) {
    if (fin && rst) {
      CheckOnce(side, kBitFinRst, 'I');
    } else {
      CheckOnce(side, kBitMulti, 'Q');
    }
  } else if (bits == 1) {
    if (syn) {
      const char code = ack ? 'H' : 'S';
      const std::uint16_t bit = ack ? kBitSynAck : kBitSyn;
      if (CheckOnce(side, bit, code) && seq != last_syn_[side]) {
        AddLetter(side == 0 ? code : static_cast<char>(std::tolower(code)));
      }
      last_syn_[side] = seq;
    }
    if (fin) {
      const std::uint32_t fin_seq = seq + payload_len;
      if (CheckOnce(side, kBitFin, 'F') && fin_seq != last_fin_[side]) {
        AddLetter(side == 0 ? 'F' : 'f');
      }
      last_fin_[side] = fin_seq;
    }
    if (rst) {
      if (CheckOnce(side, kBitRst, 'R') && seq != last_rst_[side]) {
        AddLetter(side == 0 ? 'R' : 'r');
      }
      last_rst_[side] = seq;
    }
  } else if (payload_len > 0) {
    CheckOnce(side, kBitData, 'D');
  } else if (ack) {
    CheckOnce(side, kBitAck, 'A');
  }

  // Retransmitted payload: it ends at or before what this side already sent.
  if (syn) {
    if (!syn_seen_[side] && !ack) isn_[side] = seq;
    max_seq_end_[side] = seq + 1;
    seq_known_[side] = true;
  } else if (payload_len > 0 || fin) {
    const std::uint32_t end = seq + payload_len + (fin ? 1 : 0);
    if (seq_known_[side] && payload_len > 0 && !SeqBefore(max_seq_end_[side], end)) {
      CheckCounted(side, retransmits_[side], 'T');
    }
    if (!seq_known_[side] || SeqBefore(max_seq_end_[side], end)) max_seq_end_[side] = end;
    seq_known_[side] = true;
  }
  if (window == 0 && !rst && !syn) CheckCounted(side, zero_windows_[side], 'W');

  // Endpoint states, as far as Zeek's conn_state needs them.
  if (rst) {
    state_[side] = TcpEndpoint::kReset;
  } else {
    if (syn) {
      if (ack) {
        synack_seen_[side] = true;
        if (state_[side] == TcpEndpoint::kInactive || state_[side] == TcpEndpoint::kSynSent ||
            state_[side] == TcpEndpoint::kPartial) {
          state_[side] = TcpEndpoint::kSynAckSent;
        }
      } else {
        syn_seen_[side] = true;
        if (state_[side] == TcpEndpoint::kInactive) state_[side] = TcpEndpoint::kSynSent;
      }
    } else if (ack || payload_len > 0) {
      if (InSynStates(state_[side]) &&
          (InSynStates(state_[peer]) || state_[peer] == TcpEndpoint::kEstablished)) {
        state_[side] = TcpEndpoint::kEstablished;
        if (InSynStates(state_[peer])) state_[peer] = TcpEndpoint::kEstablished;
      } else if (state_[side] == TcpEndpoint::kInactive) {
        const bool peer_answered = state_[peer] == TcpEndpoint::kSynAckSent ||
                                   state_[peer] == TcpEndpoint::kEstablished;
        state_[side] = peer_answered ? TcpEndpoint::kEstablished : TcpEndpoint::kPartial;
        if (state_[peer] == TcpEndpoint::kSynAckSent) state_[peer] = TcpEndpoint::kEstablished;
      }
    }
    if (fin) {
      fin_seen_[side] = true;
      state_[side] = TcpEndpoint::kClosed;
    }
  }
}

std::string TcpTracker::ConnState(std::uint64_t orig_payload, std::uint64_t resp_payload) const {
  const TcpEndpoint os = state_[0], rs = state_[1];
  const bool o_inactive = os == TcpEndpoint::kInactive || os == TcpEndpoint::kPartial;
  const bool r_inactive = rs == TcpEndpoint::kInactive || rs == TcpEndpoint::kPartial;
  if (rs == TcpEndpoint::kReset) {
    if (InSynStates(os) || (os == TcpEndpoint::kReset && orig_payload == 0 && resp_payload == 0)) {
      return "REJ";
    }
    return o_inactive ? "RSTRH" : "RSTR";
  }
  if (os == TcpEndpoint::kReset) {
    if (r_inactive) {
      // Zeek: history matches /\^?S[^HAFGIQ]*R.*/
      std::size_t i = 0;
      if (i < history_len_ && history_[i] == '^') ++i;
      if (i < history_len_ && history_[i] == 'S') {
        for (++i; i < history_len_; ++i) {
          const char c = history_[i];
          if (c == 'R') return "RSTOS0";
          if (c == 'H' || c == 'A' || c == 'F' || c == 'G' || c == 'I' || c == 'Q') break;
        }
      }
      return "OTH";
    }
    return "RSTO";
  }
  if (rs == TcpEndpoint::kClosed && os == TcpEndpoint::kClosed) return "SF";
  if (os == TcpEndpoint::kClosed) return r_inactive ? "SH" : "S2";
  if (rs == TcpEndpoint::kClosed) return o_inactive ? "SHR" : "S3";
  if (os == TcpEndpoint::kSynSent && rs == TcpEndpoint::kInactive) return "S0";
  if (os == TcpEndpoint::kEstablished && rs == TcpEndpoint::kEstablished) return "S1";
  return "OTH";
}

}  // namespace picket::analysis
