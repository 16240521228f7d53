// One SQLite layer for the edge buffer and the central collector: a
// connection, prepared statements with typed binds, and write transactions
// that roll back unless committed. The C handles stay in src/sqlite (pimpl),
// so no sqlite3 type reaches a header under include/.
//
// Errors become a Status once, here, naming the database file and the SQL
// (its first 60 characters). The one mapping of SQLite result codes (primary
// code, i.e. rc & 0xff, so extended codes map with their family):
//   SQLITE_BUSY, SQLITE_LOCKED         → Unavailable: another connection or
//                                        process held the lock past the busy
//                                        timeout; retry later (the collector
//                                        answers 503 + Retry-After)
//   SQLITE_FULL                        → ResourceExhausted: disk or page limit
//                                        (the collector answers 503)
//   SQLITE_IOERR, SQLITE_CANTOPEN      → IoError: the disk or the OS failed
//   SQLITE_CORRUPT, SQLITE_NOTADB      → Corruption: the buffer moves such a
//                                        database aside and starts fresh
//   SQLITE_CONSTRAINT                  → Conflict: the write clashes with a
//                                        stored row (unique key, NOT NULL, ...)
//   SQLITE_PERM, SQLITE_READONLY,
//   SQLITE_AUTH                        → PermissionDenied
//   anything else (SQL errors, misuse) → Internal
//
// Threads: a Database and its statements belong to one thread at a time
// (opened with SQLITE_OPEN_NOMUTEX); callers that share one serialise access
// themselves (CollectorDb holds a mutex). Processes sharing a file coordinate
// through SQLite's own locking and the busy timeout.
//
// Ownership: a Statement or Transaction refers to the Database that made it
// and must not outlive it; the Database may be moved while none is alive.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "picket/common/status.h"

namespace picket::sqlite {

// The Status for an SQLite result code `rc` (see the table above); `message`
// is used as is and should already name the file, the SQL and SQLite's text.
Status ErrorStatus(int rc, std::string message);

enum class ColumnType { kInteger, kReal, kText, kBlob, kNull };

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite. A failed bind (bad index) is
  // reported by the next Step or Run.
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, std::string_view(value));
  }
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, const std::optional<std::int64_t>& value);
  Statement& Bind(int index, const std::optional<std::string>& value);
  Statement& BindNull(int index);
  // Bytes stored as a BLOB (no text encoding).
  Statement& BindBlob(int index, std::string_view bytes);

  // Makes the statement runnable again and clears its parameters.
  void Reset();

  // true: a row is available; false: done.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();

  // Columns of the current row, 0-based. Text of NULL is "".
  std::int64_t Int(int column) const;
  double Real(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;  // the bytes of a BLOB (or text); "" for NULL
  bool IsNull(int column) const { return Type(column) == ColumnType::kNull; }
  ColumnType Type(int column) const;
  int ColumnCount() const;
  std::string ColumnName(int column) const;

 private:
  friend class Database;
  struct Impl;
  explicit Statement(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct OpenOptions {
  // How long a statement waits for another connection's lock before it fails
  // with Unavailable. Worker and supervisor share the buffer file; the
  // collector's readers and writer share its database.
  int busy_timeout_ms = 5000;
};

class Database {
 public:
  // Opens (creating when missing) the file read-write. A file that is not a
  // database is only noticed by the first statement (Corruption).
  static Result<Database> Open(const std::string& path, OpenOptions options = {});
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more statements separated by ';', ignoring rows.
  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);

  std::int64_t LastInsertRowId() const;
  // Rows changed by the most recent INSERT, UPDATE or DELETE.
  std::int64_t Changes() const;
  // True inside BEGIN … COMMIT (a Transaction is open).
  bool InTransaction() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A write transaction: BEGIN IMMEDIATE on Begin, COMMIT on Commit, ROLLBACK
// when destroyed uncommitted or when COMMIT fails. Begun inside another
// transaction it is a SAVEPOINT instead: Commit releases it into the outer
// transaction, destruction rolls back to it, and only the outer COMMIT makes
// anything durable.
class Transaction {
 public:
  [[nodiscard]] static Result<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();
  bool nested() const { return nested_; }

 private:
  Transaction(Database* db, bool nested) : db_(db), nested_(nested) {}
  void Rollback();

  Database* db_;  // null once committed or rolled back
  bool nested_;
};

}  // namespace picket::sqlite
