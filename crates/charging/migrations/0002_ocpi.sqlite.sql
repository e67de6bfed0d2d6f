CREATE TABLE ch_ocpi_partners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operator_id TEXT NOT NULL REFERENCES ch_operators (id),
    name TEXT NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE ch_ocpi_parties (
    operator_id TEXT PRIMARY KEY REFERENCES ch_operators (id),
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL
);
