-- Feeds are kept as published (their files), checked on import, and loaded into memory.
CREATE TABLE transit_feeds (
    id TEXT PRIMARY KEY,
    imported_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL
);

CREATE TABLE transit_feed_files (
    feed_id TEXT NOT NULL REFERENCES transit_feeds (id),
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (feed_id, name)
);

-- The latest GTFS-Realtime TripUpdates feed, applied to every query.
CREATE TABLE transit_realtime (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    body BYTEA NOT NULL,
    received_at TEXT NOT NULL
);
