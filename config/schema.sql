-- picket's operator database (MariaDB 10.6+). `picket sync` mirrors these rows
-- into ZooKeeper (DESIGN.md §3, §4). Operators edit device_groups, devices and
-- scan_jobs; the triggers keep `version` and the config_changes hint table up
-- to date, so nobody ever sets `version` by hand.
--
--   mariadb -h127.0.0.1 -uroot -e 'CREATE DATABASE picket'
--   mariadb -h127.0.0.1 -uroot picket < config/schema.sql
--
-- `version` only grows, also across DELETE + re-INSERT of the same key: an
-- INSERT starts at the server clock in microseconds since 1970 (1.8e15 < 2^53,
-- exact in JSON), every UPDATE that changes a synced column adds 1. So an old
-- znode never looks newer than a re-created row. (Looking up the key's last
-- version in a trigger would be a locking read under REPEATABLE READ and would
-- serialise concurrent INSERTs behind open transactions.)

CREATE TABLE IF NOT EXISTS device_groups (
  name        VARCHAR(64)     NOT NULL PRIMARY KEY,
  config      JSON            NOT NULL DEFAULT '{}',
  version     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at  TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS devices (
  id          VARCHAR(64)     NOT NULL PRIMARY KEY,
  group_name  VARCHAR(64)     NULL,              -- informational: picketd takes its group from its file
  enabled     TINYINT(1)      NOT NULL DEFAULT 1, -- 0: capture off, no scans
  config      JSON            NOT NULL DEFAULT '{}',
  version     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at  TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  KEY devices_group (group_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One shared scan job (config/README.md "Shared scan jobs"). NULL columns are
-- left out of the znode, so the job parser's defaults apply.
CREATE TABLE IF NOT EXISTS scan_jobs (
  id                   VARCHAR(64)     NOT NULL PRIMARY KEY,
  targets              TEXT            NOT NULL,
  exclude              TEXT            NULL,
  ports                TEXT            NOT NULL,
  rate_pps             INT UNSIGNED    NULL,
  mode                 VARCHAR(16)     NULL,   -- 'syn' or 'connect'
  retries              INT             NULL,
  wait_ms              INT             NULL,
  banners              TINYINT(1)      NULL,
  shards               INT UNSIGNED    NULL,
  max_parallel_shards  INT UNSIGNED    NULL,
  group_name           VARCHAR(64)     NULL,
  devices              TEXT            NULL,   -- 'gw-1,gw-2' or '["gw-1","gw-2"]'
  seed                 BIGINT UNSIGNED NULL,
  -- 'active': pushed to ZooKeeper; 'finished': every shard done (picket sync sets it, with
  -- finished_at; the job's tree stays for `scan status`); anything else ('cancelled'): removed.
  state                VARCHAR(16)     NOT NULL DEFAULT 'active',
  version              BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at           TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  created_at           TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  finished_at          TIMESTAMP(6)    NULL DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- Databases made by an older schema.sql get the columns added later (re-running this file is safe).
ALTER TABLE scan_jobs ADD COLUMN IF NOT EXISTS
  created_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6);
ALTER TABLE scan_jobs ADD COLUMN IF NOT EXISTS
  finished_at TIMESTAMP(6) NULL DEFAULT NULL;

-- Hint table: which rows to look at. Only a hint: `picket sync` re-reads the
-- named rows, tolerates sequence numbers that commit out of order, and
-- reconciles every row every minute anyway. The leader prunes old entries.
CREATE TABLE IF NOT EXISTS config_changes (
  seq         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  table_name  VARCHAR(32)     NOT NULL,
  row_key     VARCHAR(64)     NOT NULL,
  version     BIGINT UNSIGNED NOT NULL,
  op          VARCHAR(8)      NOT NULL,   -- 'insert', 'update', 'delete' (no ENUM: see research)
  changed_at  TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY config_changes_key (table_name, row_key),
  KEY config_changes_time (changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DELIMITER //

-- device_groups ---------------------------------------------------------------
CREATE OR REPLACE TRIGGER device_groups_bi BEFORE INSERT ON device_groups FOR EACH ROW
BEGIN
  SET NEW.version = GREATEST(NEW.version, UNIX_TIMESTAMP(NOW(6)) * 1000000);
END//
CREATE OR REPLACE TRIGGER device_groups_bu BEFORE UPDATE ON device_groups FOR EACH ROW
BEGIN
  IF NOT (NEW.config <=> OLD.config AND NEW.name <=> OLD.name) THEN
    SET NEW.version = OLD.version + 1;
  ELSE
    SET NEW.version = OLD.version;
  END IF;
END//
CREATE OR REPLACE TRIGGER device_groups_ai AFTER INSERT ON device_groups FOR EACH ROW
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('device_groups', NEW.name, NEW.version, 'insert')//
CREATE OR REPLACE TRIGGER device_groups_au AFTER UPDATE ON device_groups FOR EACH ROW
BEGIN
  IF NOT (NEW.name <=> OLD.name) THEN
    INSERT INTO config_changes (table_name, row_key, version, op)
    VALUES ('device_groups', OLD.name, OLD.version, 'delete');
  END IF;
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('device_groups', NEW.name, NEW.version, 'update');
END//
CREATE OR REPLACE TRIGGER device_groups_ad AFTER DELETE ON device_groups FOR EACH ROW
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('device_groups', OLD.name, OLD.version, 'delete')//

-- devices ---------------------------------------------------------------------
CREATE OR REPLACE TRIGGER devices_bi BEFORE INSERT ON devices FOR EACH ROW
BEGIN
  SET NEW.version = GREATEST(NEW.version, UNIX_TIMESTAMP(NOW(6)) * 1000000);
END//
CREATE OR REPLACE TRIGGER devices_bu BEFORE UPDATE ON devices FOR EACH ROW
BEGIN
  IF NOT (NEW.config <=> OLD.config AND NEW.enabled <=> OLD.enabled AND
          NEW.group_name <=> OLD.group_name AND NEW.id <=> OLD.id) THEN
    SET NEW.version = OLD.version + 1;
  ELSE
    SET NEW.version = OLD.version;
  END IF;
END//
CREATE OR REPLACE TRIGGER devices_ai AFTER INSERT ON devices FOR EACH ROW
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('devices', NEW.id, NEW.version, 'insert')//
CREATE OR REPLACE TRIGGER devices_au AFTER UPDATE ON devices FOR EACH ROW
BEGIN
  IF NOT (NEW.id <=> OLD.id) THEN
    INSERT INTO config_changes (table_name, row_key, version, op)
    VALUES ('devices', OLD.id, OLD.version, 'delete');
  END IF;
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('devices', NEW.id, NEW.version, 'update');
END//
CREATE OR REPLACE TRIGGER devices_ad AFTER DELETE ON devices FOR EACH ROW
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('devices', OLD.id, OLD.version, 'delete')//

-- scan_jobs -------------------------------------------------------------------
CREATE OR REPLACE TRIGGER scan_jobs_bi BEFORE INSERT ON scan_jobs FOR EACH ROW
BEGIN
  SET NEW.version = GREATEST(NEW.version, UNIX_TIMESTAMP(NOW(6)) * 1000000);
END//
CREATE OR REPLACE TRIGGER scan_jobs_bu BEFORE UPDATE ON scan_jobs FOR EACH ROW
BEGIN
  IF NOT (NEW.id <=> OLD.id AND NEW.targets <=> OLD.targets AND NEW.exclude <=> OLD.exclude AND
          NEW.ports <=> OLD.ports AND NEW.rate_pps <=> OLD.rate_pps AND NEW.mode <=> OLD.mode AND
          NEW.retries <=> OLD.retries AND NEW.wait_ms <=> OLD.wait_ms AND
          NEW.banners <=> OLD.banners AND NEW.shards <=> OLD.shards AND
          NEW.max_parallel_shards <=> OLD.max_parallel_shards AND
          NEW.group_name <=> OLD.group_name AND NEW.devices <=> OLD.devices AND
          NEW.seed <=> OLD.seed AND NEW.state <=> OLD.state) THEN
    SET NEW.version = OLD.version + 1;
  ELSE
    SET NEW.version = OLD.version;
  END IF;
END//
CREATE OR REPLACE TRIGGER scan_jobs_ai AFTER INSERT ON scan_jobs FOR EACH ROW
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('scan_jobs', NEW.id, NEW.version, 'insert')//
CREATE OR REPLACE TRIGGER scan_jobs_au AFTER UPDATE ON scan_jobs FOR EACH ROW
BEGIN
  IF NOT (NEW.id <=> OLD.id) THEN
    INSERT INTO config_changes (table_name, row_key, version, op)
    VALUES ('scan_jobs', OLD.id, OLD.version, 'delete');
  END IF;
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('scan_jobs', NEW.id, NEW.version, 'update');
END//
CREATE OR REPLACE TRIGGER scan_jobs_ad AFTER DELETE ON scan_jobs FOR EACH ROW
  INSERT INTO config_changes (table_name, row_key, version, op)
  VALUES ('scan_jobs', OLD.id, OLD.version, 'delete')//

DELIMITER ;
