-- Battery-swap stations: a station with a row here has slots (its OCPP 2.1 EVSEs) and
-- takes the packs of the vehicle models it serves.
ALTER TABLE ch_tariffs ADD COLUMN swap_fen INTEGER NOT NULL DEFAULT 0;

CREATE TABLE ch_swap_stations (
    station_id TEXT PRIMARY KEY REFERENCES ch_stations (id),
    slots INTEGER NOT NULL,
    vehicle_models TEXT NOT NULL
);

-- Where each pack is: in a slot of a station, or out in a vehicle (station_id NULL).
CREATE TABLE ch_packs (
    serial TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES ch_operators (id),
    station_id TEXT REFERENCES ch_stations (id),
    slot INTEGER,
    soc REAL NOT NULL,
    soh REAL NOT NULL,
    cycles INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (station_id, slot)
);

CREATE TABLE ch_swaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL REFERENCES ch_stations (id),
    operator_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    request_id INTEGER NOT NULL,
    id_token TEXT NOT NULL,
    pack_in TEXT,
    soc_in REAL,
    pack_out TEXT,
    soc_out REAL,
    fee_fen INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'timed_out')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (station_id, request_id)
);
CREATE INDEX ch_swaps_operator ON ch_swaps (operator_id, started_at);

-- With several nodes: which node holds each connected station's socket, and its OCPP
-- subprotocol, so that a command reaches it through the broker.
ALTER TABLE ch_stations ADD COLUMN node TEXT;
ALTER TABLE ch_stations ADD COLUMN node_subprotocol TEXT;

-- The energy register as it was read during each session (at most once a minute, by
-- the server's clock; lines of "<time> <Wh>"), so that time-of-day bands price each
-- interval's own energy. On the session's row: one UPDATE per reading, as before.
ALTER TABLE ch_sessions ADD COLUMN readings TEXT NOT NULL DEFAULT '';
