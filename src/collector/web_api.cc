// The page (GET /, /ui/<name>), login sessions (POST /v1/login, GET /v1/whoami,
// POST /v1/logout) and the admin actions (config/API.md). Authorize (in
// api_handler.cc) has already checked the role, the cookie's CSRF token and
// the Origin; a.principal says who calls.
#include <nlohmann/json.hpp>

#include "collector/api_handler.h"
#include "collector/operator_actions.h"
#include "collector/web_assets.h"
#include "picket/common/digest.h"
#include "picket/common/json_limits.h"
#include "picket/common/log.h"

namespace picket::collector {

namespace {

using nlohmann::json;

void AddPageHeaders(Reply& r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kPageCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-cache");
}

Reply PageAsset(const wire::Route& route) {
  const std::string name = route.asset.empty() ? "index.html" : route.asset;
  auto asset = FindWebAsset(name);
  Reply r;
  if (!asset) {
    r = JsonError(wire::kHttpNotFound, "no page asset '" + name + "'");
  } else {
    r.content_type = std::string(WebAssetContentType(name));
    r.body = std::string(asset->bytes);
  }
  AddPageHeaders(r);
  return r;
}

// Maps the operator actions' errors onto HTTP (config/API.md "Admin actions").
Reply ActionError(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      return JsonError(wire::kHttpBadRequest, st.message());
    case StatusCode::kNotFound:
      return JsonError(wire::kHttpNotFound, st.message());
    case StatusCode::kAlreadyExists:
      return JsonError(wire::kHttpConflict, st.message());
    case StatusCode::kUnavailable: {
      Reply r = JsonError(wire::kHttpUnavailable, st.message());
      r.headers.emplace_back(wire::kRetryAfterHeader, "5");
      return r;
    }
    default:
      PICKET_LOG(kError, "collector", "operator action failed", {"status", st});
      return JsonError(wire::kHttpInternalError, st.message());
  }
}

Reply ActionAnswer(int ok_status, const Result<json>& result) {
  if (!result.ok()) return ActionError(result.status());
  return JsonReply(ok_status, *result);
}

}  // namespace

Reply ApiHandler::HandleWeb(const Admission& a, std::string body) {
  const bool actions = actions_ != nullptr;
  auto role_json = [&](Role role, std::string_view csrf) {
    return json{{"role", std::string(RoleName(role))},
                {"csrf", std::string(csrf)},
                {"actions", actions && role == Role::kAdmin}};
  };
  switch (a.route.endpoint) {
    case wire::Endpoint::kPageAsset:
      return PageAsset(a.route);

    case wire::Endpoint::kLogin: {
      json doc = ParseJsonBounded(body);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("token") ||
          !doc["token"].is_string()) {
        return JsonError(wire::kHttpBadRequest, "expected {\"token\": \"<operator token>\"}");
      }
      Role role = Role::kAdmin;  // --insecure-no-auth: everyone is admin
      std::optional<std::array<std::uint8_t, 32>> token_hash;
      if (tokens_ != nullptr) {
        auto who = tokens_->Lookup(doc["token"].get<std::string>());
        if (!who || who->role == Role::kDevice) {
          // The same answer for device and unknown tokens: nothing to probe.
          Reply r = JsonError(wire::kHttpUnauthorized, "not an operator token");
          r.headers.emplace_back(wire::kWwwAuthenticateHeader, wire::kBearerScheme);
          return r;
        }
        role = who->role;
        token_hash = Sha256Of(doc["token"].get<std::string>());  // revoked with the token
      }
      auto created = login_sessions_->Create(role, token_hash);
      if (!created.ok()) return JsonError(wire::kHttpInternalError, created.status().message());
      Reply r = JsonReply(wire::kHttpOk, role_json(role, created->session.csrf));
      const auto max_age =
          std::chrono::duration_cast<std::chrono::seconds>(login_sessions_->lifetime());
      r.headers.emplace_back(kSetCookieHeader, SessionCookie(created->id, max_age, tls_));
      r.headers.emplace_back("Cache-Control", "no-store");
      return r;
    }

    case wire::Endpoint::kWhoami: {
      const Role role = a.principal ? a.principal->role : Role::kRead;
      std::string csrf;
      if (!a.login_session.empty()) {
        if (auto s = login_sessions_->Find(a.login_session)) csrf = s->csrf;
      }
      Reply r = JsonReply(wire::kHttpOk, role_json(role, csrf));
      r.headers.emplace_back("Cache-Control", "no-store");
      return r;
    }

    case wire::Endpoint::kLogout: {
      if (!a.login_session.empty()) login_sessions_->Remove(a.login_session);
      Reply r = JsonReply(wire::kHttpOk, json{{"ok", true}});
      r.headers.emplace_back(kSetCookieHeader, SessionCookie("", std::chrono::seconds(0), tls_));
      return r;
    }

    case wire::Endpoint::kSubmitScan:
    case wire::Endpoint::kCancelScan:
    case wire::Endpoint::kPutDeviceConfig:
      break;
    default:
      return JsonError(wire::kHttpInternalError, "not a web endpoint");
  }
  if (!actions) {
    return JsonError(wire::kHttpNotImplemented, "this collector has no operator database (--db)");
  }
  switch (a.route.endpoint) {
    case wire::Endpoint::kSubmitScan:
      return ActionAnswer(wire::kHttpCreated, actions_->SubmitScan(body));
    case wire::Endpoint::kCancelScan:
      return ActionAnswer(wire::kHttpOk, actions_->CancelScan(a.route.job));
    default:
      return ActionAnswer(wire::kHttpOk, actions_->SetDeviceConfig(a.route.device, body));
  }
}

}  // namespace picket::collector
