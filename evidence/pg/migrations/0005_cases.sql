-- Cases group evidence items; a legal hold on a case holds every item in it.
CREATE TABLE cases (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number       text NOT NULL UNIQUE,
    title        text NOT NULL DEFAULT '',
    unit_id      uuid NOT NULL REFERENCES units(id),
    created_by   uuid REFERENCES users(id),
    legal_hold   boolean NOT NULL DEFAULT false,
    hold_reason  text NOT NULL DEFAULT '',
    hold_set_by  uuid REFERENCES users(id),
    hold_set_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz
);

CREATE TABLE case_items (
    case_id      uuid NOT NULL REFERENCES cases(id),
    evidence_id  uuid NOT NULL REFERENCES evidence_items(id),
    added_by     uuid REFERENCES users(id),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, evidence_id)
);
CREATE INDEX case_items_evidence ON case_items(evidence_id);

-- Legal holds on single items, with who and why (the item's legal_hold
-- column mirrors "any active hold on the item or one of its cases").
CREATE TABLE legal_holds (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evidence_id  uuid REFERENCES evidence_items(id),
    case_id      uuid REFERENCES cases(id),
    reason       text NOT NULL,
    set_by       uuid NOT NULL REFERENCES users(id),
    set_at       timestamptz NOT NULL DEFAULT now(),
    released_by  uuid REFERENCES users(id),
    released_at  timestamptz,
    CHECK ((evidence_id IS NULL) <> (case_id IS NULL))
);
CREATE INDEX legal_holds_active_item ON legal_holds(evidence_id) WHERE released_at IS NULL;
