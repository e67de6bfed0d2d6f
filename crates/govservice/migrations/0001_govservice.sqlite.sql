CREATE TABLE gs_licence_types (
    code TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    validity_years INTEGER NOT NULL
);

CREATE TABLE gs_items (
    code TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    applicant TEXT NOT NULL,
    time_limit_days INTEGER NOT NULL,
    channels TEXT NOT NULL,
    offered_in TEXT NOT NULL,
    issues_licence TEXT,
    -- The whole item as imported (authorities, materials), for reading back in one row.
    definition TEXT NOT NULL
);

CREATE TABLE gs_windows (
    code TEXT PRIMARY KEY,
    jurisdiction TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    address TEXT NOT NULL
);

CREATE TABLE gs_window_staff (
    window_code TEXT NOT NULL REFERENCES gs_windows (code),
    login TEXT NOT NULL,
    PRIMARY KEY (window_code, login)
);

CREATE TABLE gs_bundles (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE gs_cases (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    item_code TEXT NOT NULL REFERENCES gs_items (code),
    applicant_type TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_contact TEXT NOT NULL,
    language TEXT NOT NULL,
    channel TEXT NOT NULL,
    window_code TEXT REFERENCES gs_windows (code),
    received_in TEXT NOT NULL,
    authority TEXT NOT NULL,
    authority_name TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    accepted_on TEXT,
    deadline TEXT,
    supplement_since TEXT,
    decided_at TEXT,
    delivery TEXT,
    consent_signed_at TEXT,
    consent_sha256 TEXT,
    bundle_id INTEGER REFERENCES gs_bundles (id),
    demo INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX gs_cases_authority ON gs_cases (authority, state);
CREATE INDEX gs_cases_received ON gs_cases (received_in, state);

CREATE TABLE gs_case_events (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES gs_cases (id),
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL
);
CREATE INDEX gs_case_events_case ON gs_case_events (case_id, id);

CREATE TABLE gs_review_notes (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES gs_cases (id),
    author TEXT NOT NULL,
    note TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE TABLE gs_attachments (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES gs_cases (id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    content BLOB NOT NULL,
    uploaded_by TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE TABLE gs_originals (
    case_id INTEGER PRIMARY KEY REFERENCES gs_cases (id),
    shipped_at TEXT,
    tracking_number TEXT,
    received_at TEXT
);

CREATE TABLE gs_keys (
    kid TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    not_before TEXT NOT NULL,
    retired_at TEXT
);

CREATE TABLE gs_licences (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES gs_cases (id),
    licence_type TEXT NOT NULL,
    issuer TEXT NOT NULL,
    kid TEXT NOT NULL REFERENCES gs_keys (kid),
    status_index INTEGER NOT NULL,
    token TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    valid_until TEXT,
    revoked_at TEXT,
    UNIQUE (issuer, status_index)
);

-- Cross-province hand-offs: signed by the sending side, linked by hash.
CREATE TABLE gs_handoffs (
    seq INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES gs_cases (id),
    kind TEXT NOT NULL,
    from_jurisdiction TEXT NOT NULL,
    to_jurisdiction TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX gs_handoffs_case ON gs_handoffs (case_id);

CREATE TABLE gs_lookup_failures (
    number TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX gs_lookup_failures_number ON gs_lookup_failures (number, at);
