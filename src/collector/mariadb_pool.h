// A small pool of MariaDB connections (Connector/C, one thread at a time
// each) for the collector's shared store (mariadb_collector_db.h).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "picket/common/status.h"
#include "picket/sync/db_url.h"
#include "picket/sync/mariadb_connection.h"

namespace picket::collector {

// Up to `size` connections to one database. Borrow waits while all are lent.
// A connection whose call failed Unavailable (server gone, deadlock, lock
// wait timeout) is closed, and the idle ones with it (a restarted server
// dropped them all); the next Borrow connects anew.
class MariaDbConnectionPool {
 public:
  MariaDbConnectionPool(sync::DbUrl url, std::size_t size) : url_(std::move(url)), size_(size) {}

  // One connection, given back when the lease goes away. The calls mark it
  // broken when they fail Unavailable.
  class Lease {
   public:
    Lease(MariaDbConnectionPool* pool, std::unique_ptr<sync::MariaDbConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    Result<std::vector<sync::SqlRow>> Query(std::string_view sql);
    Status Execute(std::string_view sql);
    std::string Quote(std::string_view text) { return conn_->Quote(text); }
    bool broken() const { return broken_; }
    const sync::DbUrl& url() const { return pool_->url(); }

   private:
    MariaDbConnectionPool* pool_;
    std::unique_ptr<sync::MariaDbConnection> conn_;
    bool broken_ = false;
  };

  Result<Lease> Borrow();
  const sync::DbUrl& url() const { return url_; }

 private:
  void GiveBack(std::unique_ptr<sync::MariaDbConnection> conn, bool broken);

  const sync::DbUrl url_;
  const std::size_t size_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<sync::MariaDbConnection>> idle_;
  std::size_t open_ = 0;  // idle plus lent
};

}  // namespace picket::collector
