CREATE TABLE ins_funds (
    code TEXT PRIMARY KEY,
    jurisdiction TEXT NOT NULL,
    scheme TEXT NOT NULL CHECK (scheme IN ('employee', 'resident')),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL
);

CREATE TABLE ins_institutions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    types TEXT NOT NULL,
    networked INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('applied', 'reviewing', 'designated', 'suspended', 'revoked')),
    updated_at TEXT NOT NULL
);

CREATE TABLE ins_institution_events (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL REFERENCES ins_institutions (code),
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL
);

CREATE TABLE ins_persons (
    id INTEGER PRIMARY KEY,
    id_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    fund_code TEXT NOT NULL REFERENCES ins_funds (code),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    account_balance_fen INTEGER NOT NULL CHECK (account_balance_fen >= 0)
);

-- Year-to-date totals; the row is locked by every settlement of the person.
CREATE TABLE ins_ytd (
    person_id INTEGER NOT NULL REFERENCES ins_persons (id),
    year INTEGER NOT NULL,
    deductible_paid_fen INTEGER NOT NULL,
    fund_paid_fen INTEGER NOT NULL,
    PRIMARY KEY (person_id, year)
);

CREATE TABLE ins_filings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES ins_persons (id),
    kind TEXT NOT NULL CHECK (kind IN ('long_term', 'temporary')),
    destination TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The place of treatment's catalogue (by province code prefix).
CREATE TABLE ins_catalogue (
    place TEXT NOT NULL,
    code TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (place, code)
);

-- The insured place's policies, versioned by effective date.
CREATE TABLE ins_policies (
    fund_code TEXT NOT NULL REFERENCES ins_funds (code),
    level INTEGER NOT NULL,
    visit_kind TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    policy TEXT NOT NULL,
    PRIMARY KEY (fund_code, level, visit_kind, effective_from)
);

CREATE TABLE ins_visits (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    person_id INTEGER NOT NULL REFERENCES ins_persons (id),
    institution TEXT NOT NULL REFERENCES ins_institutions (code),
    kind TEXT NOT NULL,
    treated_on TEXT NOT NULL,
    lines TEXT,
    state TEXT NOT NULL CHECK (state IN ('registered', 'billed', 'quoted', 'settled', 'reversed')),
    quote_posting INTEGER,
    created_at TEXT NOT NULL
);

CREATE TABLE ins_accounts (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL
);

-- A posting groups transfers that stand or fall together; two-phase for quotes.
CREATE TABLE ins_postings (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    resolved_at TEXT
);

-- Each transfer debits one account and credits another by the same amount, so every
-- posting balances by construction.
CREATE TABLE ins_transfers (
    id INTEGER PRIMARY KEY,
    posting_id INTEGER NOT NULL REFERENCES ins_postings (id),
    debit TEXT NOT NULL REFERENCES ins_accounts (code),
    credit TEXT NOT NULL REFERENCES ins_accounts (code),
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    CHECK (debit <> credit)
);
CREATE INDEX ins_transfers_posting ON ins_transfers (posting_id);

CREATE TABLE ins_settlements (
    id INTEGER PRIMARY KEY,
    visit_id INTEGER NOT NULL REFERENCES ins_visits (id),
    kind TEXT NOT NULL CHECK (kind IN ('settlement', 'reversal')),
    original_id INTEGER REFERENCES ins_settlements (id),
    insured_fund TEXT NOT NULL,
    institution TEXT NOT NULL,
    treatment_place TEXT NOT NULL,
    total_fen INTEGER NOT NULL,
    fund_fen INTEGER NOT NULL,
    account_fen INTEGER NOT NULL,
    cash_fen INTEGER NOT NULL,
    result TEXT NOT NULL,
    posting_id INTEGER NOT NULL REFERENCES ins_postings (id),
    month TEXT NOT NULL,
    settled_at TEXT NOT NULL,
    reversed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ins_settlements_month ON ins_settlements (month, insured_fund);

CREATE TABLE ins_messages (
    message_id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE TABLE ins_statements (
    id INTEGER PRIMARY KEY,
    month TEXT NOT NULL,
    debtor_fund TEXT NOT NULL,
    creditor_place TEXT NOT NULL,
    total_fen INTEGER NOT NULL,
    settlements INTEGER NOT NULL,
    body TEXT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (month, debtor_fund, creditor_place)
);

CREATE TABLE ins_reviews (
    id INTEGER PRIMARY KEY,
    settlement_id INTEGER NOT NULL UNIQUE REFERENCES ins_settlements (id),
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('selected', 'confirmed', 'rejected')),
    reviewer TEXT,
    note TEXT,
    correction_fen INTEGER,
    at TEXT NOT NULL
);

-- The platform's keys: the national-ID hashing key and the statement signing key.
CREATE TABLE ins_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    public_key TEXT,
    created_at TEXT NOT NULL
);
