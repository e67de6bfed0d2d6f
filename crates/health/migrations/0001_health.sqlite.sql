CREATE TABLE health_hospitals (
    org_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    grade TEXT NOT NULL CHECK (grade IN ('甲', '乙', '丙')),
    updated_at TEXT NOT NULL
);

CREATE TABLE health_staff (
    login TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES health_hospitals (org_id),
    updated_at TEXT NOT NULL
);

CREATE TABLE health_persons (
    person_id TEXT PRIMARY KEY,
    id_hash TEXT UNIQUE,
    family TEXT,
    birth_date TEXT,
    gender TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE health_patient_accounts (
    login TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES health_persons (person_id),
    updated_at TEXT NOT NULL
);

CREATE TABLE fhir_resources (
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    owner_org TEXT,
    person_id TEXT,
    last_updated TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (res_type, res_id)
);
CREATE INDEX fhir_resources_person ON fhir_resources (person_id);
CREATE INDEX fhir_resources_updated ON fhir_resources (res_type, last_updated);

CREATE TABLE fhir_versions (
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    method TEXT NOT NULL,
    actor TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (res_type, res_id, version)
);

CREATE TABLE fhir_index (
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    param TEXT NOT NULL,
    sys TEXT,
    val TEXT,
    lo TEXT,
    hi TEXT
);
CREATE INDEX fhir_index_value ON fhir_index (res_type, param, val);
CREATE INDEX fhir_index_resource ON fhir_index (res_type, res_id);

CREATE TABLE health_consent_grants (
    consent_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    recorded_by TEXT,
    grantee_org TEXT,
    grantee_scope TEXT,
    purpose TEXT NOT NULL,
    valid_from TEXT,
    valid_to TEXT
);
CREATE INDEX health_consent_grants_person ON health_consent_grants (person_id);

CREATE TABLE health_access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    reader_org TEXT NOT NULL,
    reader_login TEXT NOT NULL,
    person_id TEXT NOT NULL,
    owner_org TEXT,
    what TEXT NOT NULL,
    purpose TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('allowed', 'refused')),
    basis TEXT NOT NULL,
    break_glass_reason TEXT,
    review_outcome TEXT CHECK (review_outcome IN ('justified', 'unjustified')),
    review_note TEXT,
    reviewed_by TEXT,
    reviewed_at TEXT
);
CREATE INDEX health_access_log_person ON health_access_log (person_id, at);

CREATE TABLE health_recognition_items (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('lab', 'imaging')),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    validity_days INTEGER NOT NULL,
    min_level INTEGER NOT NULL CHECK (min_level BETWEEN 1 AND 3),
    fee_fen INTEGER NOT NULL
);

CREATE TABLE health_decisions (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    reader_org TEXT NOT NULL,
    reader_login TEXT NOT NULL,
    source_org TEXT NOT NULL,
    person_id TEXT NOT NULL,
    result TEXT NOT NULL,
    item_code TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accepted', 'declined')),
    reason TEXT,
    fee_fen INTEGER NOT NULL,
    jws TEXT NOT NULL
);
CREATE UNIQUE INDEX health_decisions_once ON health_decisions (reader_org, result);

CREATE TABLE health_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    public_key TEXT,
    created_at TEXT NOT NULL
);
