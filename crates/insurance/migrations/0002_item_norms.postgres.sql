-- What each province of treatment has billed per catalogue item: the norm that claim
-- review compares new bill lines with.
CREATE TABLE ins_item_norms (
    place TEXT NOT NULL,
    item TEXT NOT NULL,
    lines BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (place, item)
);
