-- Sites in protected areas: tracked sites inside a feature of the protected_areas context layer (high priority), largest first.
-- @param layer (varchar) = protected_areas : the context layer of protected areas
-- @param min_area_ha (double) = 0 : only sites that reached at least this area, ha
SELECT s.site_id, s.mgrs_tile, s.country_iso3, c.feature_id AS protected_area,
       s.state, round(s.max_area_m2 / 10000.0, 2) AS max_area_ha,
       s.first_seen, s.last_seen, s.lon, s.lat
FROM sites s
JOIN site_context c ON c.site_id = s.site_id
WHERE c.layer = ?
  AND c.feature_id IS NOT NULL
  AND s.max_area_m2 >= ? * 10000.0
ORDER BY max_area_ha DESC, s.site_id
