-- One plan per database: its header row, aspects, tasks and everything that tracks them.
CREATE TABLE plan_info (
    id TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    source TEXT NOT NULL
);

CREATE TABLE plan_aspects (
    number INTEGER PRIMARY KEY,
    title_zh TEXT NOT NULL,
    title_en TEXT NOT NULL,
    planned_tasks INTEGER
);

CREATE TABLE plan_tasks (
    id INTEGER PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    aspect INTEGER NOT NULL REFERENCES plan_aspects (number),
    title_zh TEXT NOT NULL,
    title_en TEXT NOT NULL,
    description_zh TEXT NOT NULL,
    description_en TEXT NOT NULL,
    lead_agency TEXT NOT NULL,
    start_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    reporting TEXT NOT NULL CHECK (reporting IN ('monthly', 'quarterly')),
    provenance TEXT NOT NULL,
    illustrative INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE plan_task_jurisdictions (
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    jurisdiction TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('lead', 'participant')),
    PRIMARY KEY (task_id, jurisdiction)
);
CREATE INDEX plan_task_jurisdictions_code ON plan_task_jurisdictions (jurisdiction);

CREATE TABLE plan_task_tags (
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (task_id, tag)
);

CREATE TABLE plan_milestones (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    seq INTEGER NOT NULL,
    title_zh TEXT NOT NULL,
    title_en TEXT NOT NULL,
    due_date TEXT NOT NULL,
    done_date TEXT,
    evidence TEXT,
    UNIQUE (task_id, seq)
);

CREATE TABLE plan_kpis (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    key TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    unit TEXT NOT NULL,
    baseline REAL NOT NULL,
    target REAL NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    due_date TEXT NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (task_id, key)
);

CREATE TABLE plan_kpi_values (
    kpi_id INTEGER NOT NULL REFERENCES plan_kpis (id),
    on_date TEXT NOT NULL,
    value REAL NOT NULL,
    source TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (kpi_id, on_date)
);

CREATE TABLE plan_reports (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    period TEXT NOT NULL,
    period_end TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    reporter TEXT NOT NULL,
    percent_complete INTEGER NOT NULL CHECK (percent_complete BETWEEN 0 AND 100),
    narrative_zh TEXT NOT NULL,
    narrative_en TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'accepted', 'returned')),
    review_comment TEXT,
    reviewed_by TEXT,
    created_at TEXT NOT NULL,
    submitted_at TEXT,
    reviewed_at TEXT
);
CREATE INDEX plan_reports_task ON plan_reports (task_id, period_end);

CREATE TABLE plan_report_evidence (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES plan_reports (id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    content BLOB NOT NULL
);

CREATE TABLE plan_flags (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    kind TEXT NOT NULL CHECK (kind IN ('risk', 'blocker')),
    description TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_at TEXT NOT NULL,
    closed_at TEXT
);

-- Reports each task owes: refreshed by the plan.report_obligations job.
CREATE TABLE plan_obligations (
    task_id INTEGER NOT NULL REFERENCES plan_tasks (id),
    period TEXT NOT NULL,
    due_date TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('due', 'overdue', 'fulfilled')),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (task_id, period)
);
