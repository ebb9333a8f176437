-- The signature version an automatic rescan was last requested for, so a
-- redelivered engine.updated does not queue the same rescans again.
ALTER TABLE scan_results ADD COLUMN rescan_requested text;

---- create above / drop below ----

ALTER TABLE scan_results DROP COLUMN rescan_requested;
