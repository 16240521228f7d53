#include <doctest/doctest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

#include "picket/sqlite/database.h"
#include "picket/sqlite/library_info.h"
#include "support/temp_dir.h"

namespace picket::sqlite {

namespace {

using testing::TempDir;

Database OpenIn(const TempDir& dir, OpenOptions options = {}) {
  auto db = Database::Open(dir.Join("test.db"), options);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(*db);
}

std::int64_t Count(Database& db, const std::string& table) {
  auto q = db.Prepare("SELECT COUNT(*) FROM " + table);
  REQUIRE_MESSAGE(q.ok(), q.status().ToString());
  auto row = q->Step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  return q->Int(0);
}

}  // namespace

TEST_SUITE("sqlite") {
  TEST_CASE("one mapping of SQLite result codes, extended codes with their family") {
    struct Case {
      int rc;
      StatusCode code;
    };
    const Case cases[] = {
        {SQLITE_BUSY, StatusCode::kUnavailable},
        {SQLITE_BUSY_SNAPSHOT, StatusCode::kUnavailable},
        {SQLITE_LOCKED, StatusCode::kUnavailable},
        {SQLITE_LOCKED_SHAREDCACHE, StatusCode::kUnavailable},
        {SQLITE_FULL, StatusCode::kResourceExhausted},
        {SQLITE_IOERR, StatusCode::kIoError},
        {SQLITE_IOERR_WRITE, StatusCode::kIoError},
        {SQLITE_CANTOPEN, StatusCode::kIoError},
        {SQLITE_CORRUPT, StatusCode::kCorruption},
        {SQLITE_NOTADB, StatusCode::kCorruption},
        {SQLITE_CONSTRAINT, StatusCode::kConflict},
        {SQLITE_CONSTRAINT_UNIQUE, StatusCode::kConflict},
        {SQLITE_CONSTRAINT_NOTNULL, StatusCode::kConflict},
        {SQLITE_PERM, StatusCode::kPermissionDenied},
        {SQLITE_READONLY, StatusCode::kPermissionDenied},
        {SQLITE_AUTH, StatusCode::kPermissionDenied},
        {SQLITE_ERROR, StatusCode::kInternal},
        {SQLITE_MISUSE, StatusCode::kInternal},
        {SQLITE_RANGE, StatusCode::kInternal},
    };
    for (const Case& c : cases) {
      CAPTURE(c.rc);
      Status st = ErrorStatus(c.rc, "ctx");
      CHECK(st.code() == c.code);
      CHECK(st.message() == "ctx");
    }
  }

  TEST_CASE("statements bind, step and read columns") {
    TempDir dir;
    Database db = OpenIn(dir);
    REQUIRE(db.Exec("CREATE TABLE t(i INTEGER, s TEXT, r REAL, n TEXT)").ok());
    auto ins = db.Prepare("INSERT INTO t(i, s, r, n) VALUES(?1, ?2, 2.5, ?3)");
    REQUIRE(ins.ok());
    const std::string with_nul("a\0b", 3);
    CHECK(ins->Bind(1, std::int64_t{1} << 40).Bind(2, with_nul).BindNull(3).Run().ok());
    CHECK(db.LastInsertRowId() == 1);
    CHECK(db.Changes() == 1);
    ins->Reset();
    CHECK(ins->Bind(1, std::optional<std::int64_t>())
              .Bind(2, std::optional<std::string>("x"))
              .Bind(3, "y")
              .Run()
              .ok());
    CHECK(db.LastInsertRowId() == 2);

    auto q = db.Prepare("SELECT i, s, r, n FROM t ORDER BY rowid");
    REQUIRE(q.ok());
    CHECK(q->ColumnCount() == 4);
    CHECK(q->ColumnName(1) == "s");
    auto row = q->Step();
    REQUIRE(row.ok());
    REQUIRE(*row);
    CHECK(q->Int(0) == std::int64_t{1} << 40);
    CHECK(q->Text(1) == with_nul);
    CHECK(q->Type(2) == ColumnType::kReal);
    CHECK(q->Real(2) == 2.5);
    CHECK(q->IsNull(3));
    CHECK(q->Text(3).empty());
    row = q->Step();
    REQUIRE(row.ok());
    REQUIRE(*row);
    CHECK(q->IsNull(0));
    CHECK(q->Type(1) == ColumnType::kText);
    CHECK(q->Text(3) == "y");
    row = q->Step();
    REQUIRE(row.ok());
    CHECK_FALSE(*row);
  }

  TEST_CASE("a statement prepared again starts fresh: no bindings, no row, no lock held") {
    TempDir dir;
    Database db = OpenIn(dir);
    REQUIRE(db.Exec("CREATE TABLE t(i INTEGER)").ok());
    REQUIRE(db.Exec("INSERT INTO t VALUES(1)").ok());
    REQUIRE(db.Exec("INSERT INTO t VALUES(2)").ok());
    const std::string select = "SELECT i, ?1 FROM t ORDER BY i";
    {
      auto q = db.Prepare(select);
      REQUIRE(q.ok());
      q->Bind(1, "bound");
      REQUIRE(*q->Step());
      CHECK(q->Int(0) == 1);  // dropped in the middle of its rows, holding a read lock
    }
    // Another connection can write: the dropped statement holds no lock.
    auto other = Database::Open(dir.Join("test.db"), OpenOptions{.busy_timeout_ms = 100});
    REQUIRE(other.ok());
    CHECK(other->Exec("INSERT INTO t VALUES(3)").ok());
    auto again = db.Prepare(select);
    REQUIRE(again.ok());
    REQUIRE(*again->Step());
    CHECK(again->Int(0) == 1);   // from the first row again
    CHECK(again->IsNull(1));     // the old binding is gone
    // The same SQL prepared while the first is alive: two independent statements.
    auto second = db.Prepare(select);
    REQUIRE(second.ok());
    REQUIRE(*second->Step());
    REQUIRE(*again->Step());
    CHECK(again->Int(0) == 2);
    CHECK(second->Int(0) == 1);
    again = Status::Internal("dropped");  // both go back to the pool, in either order
    second = Status::Internal("dropped");
    // A schema change after a statement was kept: the kept one still runs, on the new schema.
    {
      auto q = db.Prepare("SELECT * FROM t ORDER BY i");
      REQUIRE(q.ok());
      REQUIRE(*q->Step());
      CHECK(q->ColumnCount() == 1);
    }
    REQUIRE(db.Exec("ALTER TABLE t ADD COLUMN j INTEGER DEFAULT 7").ok());
    auto q = db.Prepare("SELECT * FROM t ORDER BY i");
    REQUIRE(q.ok());
    REQUIRE(*q->Step());
    CHECK(q->Int(1) == 7);
    CHECK(db.Exec("").ok());  // nothing to run, as sqlite3_exec
    CHECK(db.Exec(" \n").ok());
    // More distinct SQL than the pool keeps: every one still runs.
    for (int i = 0; i < 100; ++i) {
      auto n = db.Prepare("SELECT " + std::to_string(i));
      REQUIRE(n.ok());
      REQUIRE(*n->Step());
      CHECK(n->Int(0) == i);
    }
  }

  TEST_CASE("errors name the file and the SQL and carry the mapped code") {
    TempDir dir;
    Database db = OpenIn(dir);
    REQUIRE(db.Exec("CREATE TABLE t(k TEXT PRIMARY KEY, v TEXT NOT NULL)").ok());

    auto bad = db.Prepare("SELEKT 1");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == StatusCode::kInternal);
    CHECK(bad.status().message().find(db.path()) != std::string::npos);
    CHECK(bad.status().message().find("SELEKT 1") != std::string::npos);

    REQUIRE(db.Exec("INSERT INTO t VALUES('a', '1')").ok());
    Status dup = db.Exec("INSERT INTO t VALUES('a', '2')");
    CHECK(dup.code() == StatusCode::kConflict);
    CHECK(dup.message().find("UNIQUE") != std::string::npos);

    auto ins = db.Prepare("INSERT INTO t VALUES(?1, ?2)");
    REQUIRE(ins.ok());
    Status null_value = ins->Bind(1, "b").BindNull(2).Run();
    CHECK(null_value.code() == StatusCode::kConflict);
    CHECK(null_value.message().find("INSERT INTO t") != std::string::npos);

    // A bind to a missing parameter is reported by the step, not lost.
    ins->Reset();
    Status range = ins->Bind(1, "c").Bind(2, "3").Bind(7, "x").Run();
    CHECK(range.code() == StatusCode::kInternal);
    CHECK(range.message().find("bind") != std::string::npos);
    CHECK(Count(db, "t") == 1);
  }

  TEST_CASE("a file that is not a database is Corruption at the first statement") {
    TempDir dir;
    {
      std::ofstream f(dir.Join("test.db"), std::ios::binary);
      for (int i = 0; i < 200; ++i) f << "this is not an SQLite database, it is garbage\n";
    }
    Database db = OpenIn(dir);
    Status st = db.Exec("PRAGMA journal_mode=WAL");
    CHECK(st.code() == StatusCode::kCorruption);
    CHECK(st.message().find(dir.Join("test.db")) != std::string::npos);
  }

  TEST_CASE("a directory that does not exist cannot be opened") {
    TempDir dir;
    auto db = Database::Open(dir.Join("missing/test.db"));
    REQUIRE_FALSE(db.ok());
    CHECK(db.status().code() == StatusCode::kIoError);
    CHECK(db.status().message().find("open " + dir.Join("missing/test.db")) == 0);
  }

  TEST_CASE("a lock held by another connection is Unavailable after the busy timeout") {
    TempDir dir;
    Database a = OpenIn(dir, {.busy_timeout_ms = 0});
    Database b = OpenIn(dir, {.busy_timeout_ms = 0});
    REQUIRE(a.Exec("CREATE TABLE t(x)").ok());
    auto held = Transaction::Begin(a);
    REQUIRE(held.ok());
    auto other = Transaction::Begin(b);
    REQUIRE_FALSE(other.ok());
    CHECK(other.status().code() == StatusCode::kUnavailable);
    CHECK_FALSE(b.InTransaction());
    CHECK(held->Commit().ok());
    auto now = Transaction::Begin(b);
    CHECK(now.ok());
  }

  TEST_CASE("transactions commit, roll back when dropped, and nest as savepoints") {
    TempDir dir;
    Database db = OpenIn(dir);
    REQUIRE(db.Exec("CREATE TABLE t(x)").ok());

    SUBCASE("commit keeps the rows") {
      auto tx = Transaction::Begin(db);
      REQUIRE(tx.ok());
      CHECK_FALSE(tx->nested());
      CHECK(db.InTransaction());
      REQUIRE(db.Exec("INSERT INTO t VALUES(1)").ok());
      CHECK(tx->Commit().ok());
      CHECK_FALSE(db.InTransaction());
      CHECK(tx->Commit().code() == StatusCode::kFailedPrecondition);
      CHECK(Count(db, "t") == 1);
    }
    SUBCASE("dropped uncommitted rolls back") {
      {
        auto tx = Transaction::Begin(db);
        REQUIRE(tx.ok());
        REQUIRE(db.Exec("INSERT INTO t VALUES(1)").ok());
      }
      CHECK_FALSE(db.InTransaction());
      CHECK(Count(db, "t") == 0);
    }
    SUBCASE("a moved transaction is finished once") {
      auto tx = Transaction::Begin(db);
      REQUIRE(tx.ok());
      REQUIRE(db.Exec("INSERT INTO t VALUES(1)").ok());
      Transaction moved(std::move(*tx));
      CHECK(moved.Commit().ok());
      CHECK(Count(db, "t") == 1);
    }
    SUBCASE("an inner transaction rolled back leaves the outer one's rows") {
      auto outer = Transaction::Begin(db);
      REQUIRE(outer.ok());
      REQUIRE(db.Exec("INSERT INTO t VALUES(1)").ok());
      {
        auto inner = Transaction::Begin(db);
        REQUIRE(inner.ok());
        CHECK(inner->nested());
        REQUIRE(db.Exec("INSERT INTO t VALUES(2)").ok());
      }
      CHECK(db.InTransaction());
      {
        auto inner = Transaction::Begin(db);
        REQUIRE(inner.ok());
        REQUIRE(db.Exec("INSERT INTO t VALUES(3)").ok());
        CHECK(inner->Commit().ok());
      }
      CHECK(db.InTransaction());
      CHECK(outer->Commit().ok());
      CHECK(Count(db, "t") == 2);
      auto q = db.Prepare("SELECT SUM(x) FROM t");
      REQUIRE(q.ok());
      REQUIRE(q->Step().ok());
      CHECK(q->Int(0) == 4);
    }
    SUBCASE("an inner commit is undone by the outer rollback") {
      {
        auto outer = Transaction::Begin(db);
        REQUIRE(outer.ok());
        auto inner = Transaction::Begin(db);
        REQUIRE(inner.ok());
        REQUIRE(db.Exec("INSERT INTO t VALUES(1)").ok());
        CHECK(inner->Commit().ok());
      }
      CHECK_FALSE(db.InTransaction());
      CHECK(Count(db, "t") == 0);
    }
  }

  TEST_CASE("the library version is reported") {
    LibraryVersion v = SqliteLibraryVersion();
    CHECK(v.name == "sqlite3");
    CHECK(v.version == sqlite3_libversion());
  }
}

}  // namespace picket::sqlite
