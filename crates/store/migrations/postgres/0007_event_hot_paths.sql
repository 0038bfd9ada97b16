-- Events find open reports within 50 m by a finer cell than the buildings' 200 m one
-- (linli_core::geo::near_cell_of): 0.0008 degrees, numbered x * 1,000,000 + y. The 3 x 3
-- block around a point then covers a sixth of the area, so a busy spot reads a sixth of
-- the rows. The column and its index (events_nearby) stay; their numbers change.
UPDATE events
SET cell = floor((lon + 180.0) / 0.0008)::bigint * 1000000 + floor((lat + 90.0) / 0.0008)::bigint
WHERE lon IS NOT NULL AND lat IS NOT NULL;

-- Locating a report asks for the drawn grid boundaries whose box holds the point. Most
-- grids have none drawn, and without this index every report read all grid rows.
CREATE INDEX grid_details_drawn ON grid_details (min_lat, max_lat) WHERE boundary IS NOT NULL;
