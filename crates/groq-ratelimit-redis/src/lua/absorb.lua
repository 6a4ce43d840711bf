-- absorb: ARGV = units per dimension (rpm, rpd, tpm, tpd) admitted elsewhere (by the local
-- fallback while Redis was unreachable): charged so that the shared state counts them.
local now = now_us()
for i = 1, 4 do
  local units = tonumber(ARGV[i])
  local b = load(i)
  if b and units > 0 then
    add(b, now, units)
    store(b)
  end
end
return fmt(now)
