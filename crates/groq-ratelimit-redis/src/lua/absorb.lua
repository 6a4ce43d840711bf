-- absorb: ARGV = units per dimension (RPM, RPD, TPM, TPD, ASH, ASD, ITPM, OTPM) admitted
-- elsewhere (by the local fallback while Redis was unreachable), then the quota string (optional):
-- charged so that the shared state counts them (a Redis that restarted empty gets the buckets
-- first).
local now = now_us()
local st = load_state()
sync_quota(st, now, NDIMS + 1)
for i = 1, NDIMS do
  local units = tonumber(ARGV[i])
  local b = st.b[i]
  if b and units > 0 then
    add(b, now, units)
    touch(st)
  end
end
save(st)
return fmt(now)
