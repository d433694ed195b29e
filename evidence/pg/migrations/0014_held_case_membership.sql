-- A case under legal hold keeps its items: taking an item out of it (or
-- moving the row to another case) would lift the item's hold without the
-- hold's release, which is the only way a hold may end (recorded in
-- custody by evidence/retention). evidence/review refuses this first with
-- a clear 409; the trigger is the backstop for every other path.
CREATE FUNCTION opendems_keep_held_case_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM cases WHERE id = OLD.case_id AND legal_hold) THEN
        RAISE EXCEPTION 'case % is under legal hold: its items stay in it until the hold is released', OLD.case_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER case_items_keep_held BEFORE DELETE OR UPDATE ON case_items
    FOR EACH ROW EXECUTE FUNCTION opendems_keep_held_case_items();
