#include <doctest/doctest.h>

#include "sync/binlog_doorbell.h"

namespace picket::sync {

TEST_SUITE("sync.doorbell") {
  TEST_CASE("row format: a transaction on the schema rings at its commit, others never") {
    BinlogBell bell("picket");
    // GTID (BEGIN) TABLE_MAP ROWS XID, as MariaDB logs an UPDATE in row format.
    CHECK_FALSE(bell.Query("", "BEGIN"));
    CHECK_FALSE(bell.TableMap("picket"));
    CHECK(bell.Xid());
    CHECK_FALSE(bell.Xid());  // once per transaction
    // Another database's transaction.
    CHECK_FALSE(bell.Query("", "BEGIN"));
    CHECK_FALSE(bell.TableMap("shop"));
    CHECK_FALSE(bell.Xid());
    // A rolled-back-then-new transaction starts clean.
    CHECK_FALSE(bell.TableMap("picket"));
    CHECK_FALSE(bell.Query("", "BEGIN"));
    CHECK_FALSE(bell.TableMap("shop"));
    CHECK_FALSE(bell.Xid());
  }

  TEST_CASE("statement format and DDL: the statement rings, qualified names count") {
    BinlogBell bell("picket");
    CHECK(bell.Query("picket", "UPDATE devices SET config = '{}' WHERE id = 'gw-1'"));
    CHECK(bell.Xid());  // and again at its commit
    CHECK(bell.Query("shop", "UPDATE picket.devices SET enabled = 0"));
    CHECK(bell.Query("", "update `picket`.devices set enabled = 0"));
    CHECK(bell.Query("picket", "ALTER TABLE devices ADD COLUMN note TEXT"));
    CHECK_FALSE(bell.Query("shop", "UPDATE orders SET paid = 1"));
    CHECK_FALSE(bell.Query("shop", "UPDATE picketing.orders SET paid = 1"));
    CHECK_FALSE(bell.Query("picket", "begin"));
    CHECK(bell.Query("picket", "INSERT INTO devices (id) VALUES ('gw-2')"));
    CHECK(bell.Query("picket", "COMMIT"));  // a non-transactional engine's commit
    CHECK_FALSE(bell.Query("picket", "COMMIT"));
  }
}

}  // namespace picket::sync
