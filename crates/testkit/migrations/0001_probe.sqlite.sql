CREATE TABLE probe_notes (
    id INTEGER PRIMARY KEY,
    jurisdiction TEXT NOT NULL,
    text TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
