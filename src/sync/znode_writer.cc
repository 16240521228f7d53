#include "sync/znode_writer.h"

#include "picket/sync/sync_documents.h"
#include "picket/zk/znode_layout.h"

namespace picket::sync {

namespace {

constexpr int kAttempts = 8;  // CAS conflicts mean someone else is writing: give up after a few

std::string Parent(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

Result<std::optional<zk::NodeData>> ZnodeWriter::Read(const std::string& path) {
  auto node = session_->Get(path);
  if (node.ok()) return std::optional<zk::NodeData>(std::move(node).value());
  if (node.status().code() == StatusCode::kNotFound) return std::optional<zk::NodeData>();
  return node.status();
}

Result<PushOutcome> ZnodeWriter::PushVersioned(const std::string& path,
                                               const std::string& document,
                                               std::int64_t row_version) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto current = Read(path);
    if (!current.ok()) return current.status();
    std::optional<std::string> data;
    if (*current) data = (*current)->data;
    const WriteDecision decision = DecideWrite(data, row_version);
    if (decision == WriteDecision::kUpToDate) return PushOutcome::kUpToDate;
    PICKET_RETURN_IF_ERROR(may_write_());
    Status st;
    if (decision == WriteDecision::kCreate) {
      PICKET_RETURN_IF_ERROR(session_->EnsurePath(Parent(path)));
      st = session_->Create(path, document);
      if (st.code() == StatusCode::kAlreadyExists) continue;  // someone created it: re-read
    } else {
      st = session_->Set(path, document, (*current)->version);
      if (st.code() == StatusCode::kConflict || st.code() == StatusCode::kNotFound) continue;
    }
    if (!st.ok()) return st;
    return PushOutcome::kWritten;
  }
  return Status::Conflict("write " + path + ": still changing after " +
                          std::to_string(kAttempts) + " compare-and-set attempts");
}

Result<PushOutcome> ZnodeWriter::PushJob(const std::string& job_path,
                                         const std::string& version_path,
                                         const std::string& spec, std::int64_t row_version) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto job = Read(job_path);
    if (!job.ok()) return job.status();
    auto version = Read(version_path);
    if (!version.ok()) return version.status();
    std::optional<std::string> version_data;
    if (*version) version_data = (*version)->data;
    if (*job && DecideWrite(version_data, row_version) == WriteDecision::kUpToDate) {
      return PushOutcome::kUpToDate;
    }
    PICKET_RETURN_IF_ERROR(may_write_());
    PICKET_RETURN_IF_ERROR(session_->EnsurePath(Parent(job_path)));
    PICKET_RETURN_IF_ERROR(session_->EnsurePath(Parent(version_path)));
    // Spec and version change together or not at all: devices never see a
    // spec whose version node says otherwise.
    std::vector<zk::ZkSession::Op> ops;
    if (*job) {
      ops.push_back({zk::ZkSession::Op::kSet, job_path, spec, (*job)->version});
    } else {
      ops.push_back({zk::ZkSession::Op::kCreate, job_path, spec, -1});
    }
    const std::string version_doc = JobVersionDocument(row_version);
    if (*version) {
      ops.push_back({zk::ZkSession::Op::kSet, version_path, version_doc, (*version)->version});
    } else {
      ops.push_back({zk::ZkSession::Op::kCreate, version_path, version_doc, -1});
    }
    Status st = session_->Multi(ops);
    if (st.code() == StatusCode::kConflict || st.code() == StatusCode::kAlreadyExists ||
        st.code() == StatusCode::kNotFound) {
      continue;
    }
    if (!st.ok()) return st;
    return PushOutcome::kWritten;
  }
  return Status::Conflict("write " + job_path + ": still changing after " +
                          std::to_string(kAttempts) + " compare-and-set attempts");
}

Status ZnodeWriter::PushError(const std::string& path, std::int64_t row_version,
                              const std::string& error, std::int64_t at_ms) {
  const std::string doc = SyncErrorDocument(row_version, error, at_ms);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto current = Read(path);
    if (!current.ok()) return current.status();
    if (*current && EmbeddedVersion((*current)->data) == row_version) return Status::Ok();
    PICKET_RETURN_IF_ERROR(may_write_());
    Status st;
    if (!*current) {
      PICKET_RETURN_IF_ERROR(session_->EnsurePath(Parent(path)));
      st = session_->Create(path, doc);
      if (st.code() == StatusCode::kAlreadyExists) continue;
    } else {
      st = session_->Set(path, doc, (*current)->version);
      if (st.code() == StatusCode::kConflict || st.code() == StatusCode::kNotFound) continue;
    }
    return st;
  }
  return Status::Conflict("write " + path + ": still changing");
}

Status ZnodeWriter::ClearError(const std::string& path, std::int64_t pushed_version) {
  auto current = Read(path);
  if (!current.ok()) return current.status();
  if (!*current) return Status::Ok();
  const auto version = EmbeddedVersion((*current)->data);
  if (version && *version > pushed_version) return Status::Ok();  // explains a newer row
  PICKET_RETURN_IF_ERROR(may_write_());
  Status st = session_->Delete(path, (*current)->version);
  if (st.code() == StatusCode::kNotFound || st.code() == StatusCode::kConflict) {
    return Status::Ok();  // gone or rewritten meanwhile: the next pass decides again
  }
  return st;
}

Result<bool> ZnodeWriter::DeleteIfExists(const std::string& path) {
  auto exists = session_->Exists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return false;
  PICKET_RETURN_IF_ERROR(may_write_());
  Status st = session_->Delete(path);
  if (st.code() == StatusCode::kNotFound) return false;
  if (!st.ok()) return st;
  return true;
}

Result<bool> ZnodeWriter::DeleteTree(const std::string& path) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto children = session_->GetChildren(path);
    if (!children.ok()) {
      if (children.status().code() == StatusCode::kNotFound) return false;
      return children.status();
    }
    for (const auto& child : *children) {
      auto deleted = DeleteTree(zk::ZnodeLayout::Child(path, child));
      if (!deleted.ok()) return deleted.status();
    }
    PICKET_RETURN_IF_ERROR(may_write_());
    Status st = session_->Delete(path);
    if (st.ok()) return true;
    if (st.code() == StatusCode::kNotFound) return false;
    if (st.code() != StatusCode::kFailedPrecondition) return st;  // a child appeared: again
  }
  return Status::Conflict("delete " + path + ": children keep appearing");
}

}  // namespace picket::sync
