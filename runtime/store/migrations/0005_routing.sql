-- Routing explained: the decision that placed each attempt (compact JSON, see
-- runtime/route_record.py). The start transition writes it on the robot's row; the
-- attempt's row takes it over when the attempt ends, in the same statement as today.
-- Nullable: attempts recorded before this migration have none.
ALTER TABLE robots ADD COLUMN routing TEXT;
ALTER TABLE attempts ADD COLUMN routing TEXT;
