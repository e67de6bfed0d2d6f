CREATE TABLE ch_operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE ch_operator_staff (
    login TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES ch_operators (id)
);

CREATE TABLE ch_stations (
    id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES ch_operators (id),
    name TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    address TEXT NOT NULL,
    public INTEGER NOT NULL,
    key_hash TEXT NOT NULL,
    vendor TEXT,
    model TEXT,
    booted_at TEXT,
    last_seen TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX ch_stations_operator ON ch_stations (operator_id);

CREATE TABLE ch_connectors (
    station_id TEXT NOT NULL REFERENCES ch_stations (id),
    connector_id INTEGER NOT NULL,
    standard TEXT NOT NULL,
    max_kw REAL NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (station_id, connector_id)
);

CREATE TABLE ch_tariffs (
    operator_id TEXT PRIMARY KEY REFERENCES ch_operators (id),
    energy_fen_per_kwh INTEGER NOT NULL,
    service_fen_per_kwh INTEGER NOT NULL,
    idle_fen_per_minute INTEGER NOT NULL,
    idle_grace_minutes INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE ch_tokens (
    operator_id TEXT NOT NULL REFERENCES ch_operators (id),
    id_tag TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired')),
    PRIMARY KEY (operator_id, id_tag)
);

CREATE TABLE ch_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL REFERENCES ch_stations (id),
    connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL,
    ocpp_tx TEXT,
    meter_start INTEGER NOT NULL,
    meter_last INTEGER NOT NULL,
    meter_stop INTEGER,
    started_at TEXT NOT NULL,
    stopped_at TEXT,
    stop_reason TEXT,
    idle_since TEXT,
    idle_seconds INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'completed'))
);
CREATE INDEX ch_sessions_station ON ch_sessions (station_id, status);
CREATE INDEX ch_sessions_ocpp_tx ON ch_sessions (station_id, ocpp_tx);

CREATE TABLE ch_cdrs (
    session_id INTEGER PRIMARY KEY REFERENCES ch_sessions (id),
    operator_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    energy_wh INTEGER NOT NULL,
    energy_fen INTEGER NOT NULL,
    service_fen INTEGER NOT NULL,
    idle_fen INTEGER NOT NULL,
    total_fen INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    stopped_at TEXT NOT NULL
);
CREATE INDEX ch_cdrs_operator ON ch_cdrs (operator_id, stopped_at);
