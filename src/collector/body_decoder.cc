#include "collector/body_decoder.h"

#include "collector/gunzip.h"
#include "collector/zstd_stream.h"

namespace picket::collector {

std::string_view BodyEncodingName(BodyEncoding encoding) {
  switch (encoding) {
    case BodyEncoding::kIdentity:
      return "identity";
    case BodyEncoding::kGzip:
      return "gzip";
    case BodyEncoding::kZstd:
      return "zstd";
  }
  return "?";
}

std::unique_ptr<BodyDecoder> MakeBodyDecoder(BodyEncoding encoding, std::size_t max_output,
                                             BodyDecoder::Sink sink) {
  switch (encoding) {
    case BodyEncoding::kGzip:
      return std::make_unique<GunzipStream>(max_output, std::move(sink));
    case BodyEncoding::kZstd:
      return std::make_unique<ZstdStream>(max_output, std::move(sink));
    case BodyEncoding::kIdentity:
      break;
  }
  return nullptr;
}

Result<std::string> DecodeBodyCapped(BodyEncoding encoding, std::string body,
                                     std::size_t max_output) {
  if (encoding == BodyEncoding::kIdentity) {
    if (body.size() > max_output) {
      return Status::ResourceExhausted("body exceeds the limit of " + std::to_string(max_output) +
                                       " bytes");
    }
    return body;
  }
  if (encoding == BodyEncoding::kGzip) return GunzipCapped(body, max_output);
  std::string out;
  ZstdStream stream(max_output, [&](std::string_view piece) {
    out.append(piece);
    return Status::Ok();
  });
  PICKET_RETURN_IF_ERROR(stream.Feed(body));
  PICKET_RETURN_IF_ERROR(stream.Finish());
  return out;
}

}  // namespace picket::collector
