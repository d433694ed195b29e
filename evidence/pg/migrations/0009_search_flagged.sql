-- Flagged items are few; a partial index in the listing's order answers
-- "flagged in my units, newest first" without reading unflagged rows.
CREATE INDEX evidence_items_flagged_page ON evidence_items (unit_id, recorded_at DESC NULLS LAST, id) WHERE flagged;
CREATE INDEX evidence_items_flagged_recent ON evidence_items (recorded_at DESC NULLS LAST, id) WHERE flagged;
