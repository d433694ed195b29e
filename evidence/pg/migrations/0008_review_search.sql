-- Search at 100,000+ items (see docs/review.md for the measurements).
--
-- Free text: evidence.Store.List matches ILIKE '%text%' over six columns;
-- trigram GIN indexes let PostgreSQL answer each with a bitmap scan
-- instead of reading the whole table. pg_trgm is a trusted extension
-- (PostgreSQL 13+), so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX evidence_items_title_trgm    ON evidence_items USING gin (title gin_trgm_ops);
CREATE INDEX evidence_items_filename_trgm ON evidence_items USING gin (filename gin_trgm_ops);
CREATE INDEX evidence_items_camera_trgm   ON evidence_items USING gin (camera_name gin_trgm_ops);
CREATE INDEX evidence_items_location_trgm ON evidence_items USING gin (location gin_trgm_ops);
CREATE INDEX evidence_items_officer_trgm  ON evidence_items USING gin (officer_id gin_trgm_ops);
CREATE INDEX evidence_items_device_trgm   ON evidence_items USING gin (device_id gin_trgm_ops);

-- A unit's newest items in the listing's exact order (recorded_at DESC
-- NULLS LAST, id), so a scoped first page reads 25 index entries.
CREATE INDEX evidence_items_unit_recorded_page ON evidence_items (unit_id, recorded_at DESC NULLS LAST, id);
