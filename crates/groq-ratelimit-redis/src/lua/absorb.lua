-- absorb: ARGV = units per dimension (rpm, rpd, tpm, tpd) admitted elsewhere (by the local
-- fallback while Redis was unreachable), then the quota: charged so that the shared state
-- counts them (a Redis that restarted empty gets the buckets first).
local now = now_us()
if #ARGV >= 4 + 16 then sync_quota(now, 5) end
for i = 1, 4 do
  local units = tonumber(ARGV[i])
  local b = load(i)
  if b and units > 0 then
    add(b, now, units)
    store(b)
  end
end
return fmt(now)
