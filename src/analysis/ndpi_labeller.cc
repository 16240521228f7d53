#include "analysis/ndpi_labeller.h"

#include <ndpi_api.h>

#include <cstring>
#include <mutex>

namespace picket::analysis {
namespace {

// ndpiReader's defaults (max_num_tcp_dissected_pkts / max_num_udp_dissected_pkts).
// ndpiReader has no bound for other protocols; 80 keeps the saved state bounded.
constexpr std::uint16_t kMaxTcpPackets = 80;
constexpr std::uint16_t kMaxUdpPackets = 24;
constexpr std::uint16_t kMaxOtherPackets = 80;

std::uint16_t MaxPackets(std::uint8_t proto) {
  if (proto == kProtoTcp) return kMaxTcpPackets;
  if (proto == kProtoUdp) return kMaxUdpPackets;
  return kMaxOtherPackets;
}

unsigned short NdpiLength(const DecodedPacket& packet) {
  // ndpiReader passes caplen - ip_offset as u_int16_t; clamp rather than wrap.
  return static_cast<unsigned short>(packet.l3_captured > 0xffff ? 0xffff : packet.l3_captured);
}

// nDPI 4.2 initialises libgcrypt and other process-wide state inside
// ndpi_init_detection_module: analysers built on several threads at once
// (one per device at the collector) take turns.
std::mutex& ModuleLifecycleMutex() {
  static std::mutex mutex;
  return mutex;
}

// One detection module per thread, shared by every labeller made on that
// thread: a module costs ~5.6 MiB (measured, nDPI 4.2), and the collector
// keeps up to 64 device analysers resident on its analysis thread (360 MiB
// with one module each). ndpiReader too runs all flows of a thread through one
// module. The module lives as long as a labeller holds it.
std::shared_ptr<ndpi_detection_module_struct> ThreadModule() {
  thread_local std::weak_ptr<ndpi_detection_module_struct> current;
  if (auto module = current.lock()) return module;
  std::lock_guard<std::mutex> lock(ModuleLifecycleMutex());
  ndpi_detection_module_struct* raw = ndpi_init_detection_module(ndpi_no_prefs);
  if (raw == nullptr) return nullptr;
  NDPI_PROTOCOL_BITMASK all;
  NDPI_BITMASK_SET_ALL(all);
  ndpi_set_protocol_detection_bitmask2(raw, &all);
  ndpi_finalize_initialization(raw);
  std::shared_ptr<ndpi_detection_module_struct> module(raw, [](ndpi_detection_module_struct* m) {
    std::lock_guard<std::mutex> exit_lock(ModuleLifecycleMutex());
    ndpi_exit_detection_module(m);
  });
  current = module;
  return module;
}

}  // namespace

void NdpiFlowFree::operator()(ndpi_flow_struct* flow) const {
  if (flow != nullptr) ndpi_flow_free(flow);
}

NdpiLabeller::NdpiLabeller() : module_owner_(ThreadModule()), module_(module_owner_.get()) {}

NdpiLabeller::~NdpiLabeller() = default;

std::size_t NdpiLabeller::FlowStructSize() { return sizeof(ndpi_flow_struct); }

std::uint64_t NdpiLabeller::Tick(std::int64_t ts_us) {
  // ndpiReader: sec * 1000 + usec / 1000, repaired to never go back.
  const std::int64_t sec = ts_us >= 0 ? ts_us / 1'000'000 : -((-ts_us + 999'999) / 1'000'000);
  const std::int64_t usec = ts_us - sec * 1'000'000;
  const std::uint64_t ms = static_cast<std::uint64_t>(sec) * 1000 + static_cast<std::uint64_t>(usec / 1000);
  if (ms > last_time_ms_) last_time_ms_ = ms;
  return last_time_ms_;
}

void NdpiLabeller::Feed(NdpiFlowState& state, const DecodedPacket& packet, const PacketRef& ref,
                        std::uint64_t time_ms) {
  if (state.done || module_ == nullptr || !packet.ndpi_ok) return;
  ++state.packets;
  const bool enough = state.packets > MaxPackets(packet.proto);
  if (!state.flow && !AllocateFlow(state)) return;
  const ndpi_protocol detected =
      ndpi_detection_process_packet(module_, state.flow.get(), packet.l3, NdpiLength(packet), time_ms);
  state.label.master = detected.master_protocol;
  state.label.app = detected.app_protocol;
  state.label.category = detected.category;
  if (enough || detected.app_protocol != NDPI_PROTOCOL_UNKNOWN) {
    if (!enough && ndpi_extra_dissection_possible(module_, state.flow.get())) {
      state.seen.push_back({ref, time_ms});  // waits for more (e.g. the certificate)
      return;
    }
    Complete(state, detected.app_protocol == NDPI_PROTOCOL_UNKNOWN);
    return;
  }
  state.seen.push_back({ref, time_ms});
}

void NdpiLabeller::Replay(NdpiFlowState& state, const DecodedPacket& packet,
                          std::uint64_t time_ms) {
  if (state.done || module_ == nullptr || !packet.ndpi_ok) return;
  if (!state.flow && !AllocateFlow(state)) return;
  const ndpi_protocol detected =
      ndpi_detection_process_packet(module_, state.flow.get(), packet.l3, NdpiLength(packet), time_ms);
  state.label.master = detected.master_protocol;
  state.label.app = detected.app_protocol;
  state.label.category = detected.category;
}

bool NdpiLabeller::AllocateFlow(NdpiFlowState& state) {
  auto* raw = static_cast<ndpi_flow_struct*>(ndpi_flow_malloc(sizeof(ndpi_flow_struct)));
  if (raw == nullptr) return false;
  std::memset(raw, 0, sizeof(ndpi_flow_struct));
  state.flow.reset(raw);
  return true;
}

void NdpiLabeller::Finish(NdpiFlowState& state) {
  if (state.done || module_ == nullptr) return;
  if (!state.flow) {
    state.done = true;  // nDPI never saw a packet of it: Unknown
    state.seen.clear();
    return;
  }
  Complete(state, true);
}

void NdpiLabeller::Complete(NdpiFlowState& state, bool give_up) {
  ndpi_flow_struct* flow = state.flow.get();
  if (give_up) {
    std::uint8_t guessed = 0;
    const ndpi_protocol p = ndpi_detection_giveup(module_, flow, 1, &guessed);
    state.label.master = p.master_protocol;
    state.label.app = p.app_protocol;
    state.label.category = p.category;
  }
  state.label.risk = flow->risk;
  const bool http = state.label.master == NDPI_PROTOCOL_HTTP || state.label.app == NDPI_PROTOCOL_HTTP;
  if (http && flow->http.url != nullptr) {
    // ndpiReader adds the URL's risk when it prints the flow.
    const ndpi_risk_enum url_risk = ndpi_validate_url(flow->http.url);
    if (url_risk != NDPI_NO_RISK) state.label.risk |= ndpi_risk{1} << url_risk;
  }
  state.label.server_name.assign(flow->host_server_name,
                                 strnlen(flow->host_server_name, sizeof(flow->host_server_name)));
  state.done = true;
  state.flow.reset();
  state.seen.clear();
  state.seen.shrink_to_fit();
}

void NdpiLabeller::Names(const NdpiLabel& label, Session& session) const {
  if (module_ == nullptr) return;
  ndpi_protocol p;
  p.master_protocol = label.master;
  p.app_protocol = label.app;
  p.category = static_cast<ndpi_protocol_category_t>(label.category);
  char name[64];
  session.app = ndpi_protocol2name(module_, p, name, sizeof(name));
  const char* category = ndpi_category_get_name(module_, p.category);
  session.category = category != nullptr ? category : "";
  session.risks.clear();
  for (int bit = 0; bit < NDPI_MAX_RISK && bit < 64; ++bit) {
    if (label.risk & (ndpi_risk{1} << bit)) {
      const char* risk_name = ndpi_risk2str(static_cast<ndpi_risk_enum>(bit));
      session.risks.emplace_back(risk_name != nullptr ? risk_name : "");
    }
  }
  std::uint16_t client_score = 0, server_score = 0;
  session.risk_score = ndpi_risk2score(label.risk, &client_score, &server_score);
  session.server_name = label.server_name;
}

}  // namespace picket::analysis
