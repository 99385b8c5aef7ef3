-- Sites outside tenements: tracked sites inside no feature of the tenements context layer (possibly informal), with the distance to the nearest tenement.
-- @param layer (varchar) = tenements : the context layer of tenements and licences
-- @param min_distance_m (double) = 0 : only sites at least this far from every tenement, m
SELECT s.site_id, s.mgrs_tile, s.country_iso3, s.state,
       round(c.distance_m) AS nearest_tenement_m,
       round(s.max_area_m2 / 10000.0, 2) AS max_area_ha, s.first_seen, s.lon, s.lat
FROM sites s
JOIN site_context c ON c.site_id = s.site_id
WHERE c.layer = ?
  AND c.feature_id IS NULL
  AND coalesce(c.distance_m, 0) >= ?
ORDER BY nearest_tenement_m DESC, s.site_id
