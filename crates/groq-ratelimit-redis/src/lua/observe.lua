-- observe: ARGV = per dimension (RPM, RPD, TPM, TPD, ASH, ASD, ITPM, OTPM) the remaining units
-- the server reports and the time until its bucket is full (us), -1 when absent; then the
-- quota string (optional). Tightens every bucket the server reports fuller than the shared
-- state, exactly as QuotaState::observe: nothing is ever loosened.
local now = now_us()
local st = load_state()
expire(st, now)
sync_quota(st, now, 2 * NDIMS + 1)
local p = nil
for i = 1, NDIMS do
  local remaining = tonumber(ARGV[2 * i - 1])
  local reset = tonumber(ARGV[2 * i])
  local b = st.b[i]
  if b and remaining >= 0 then
    local ours = math.max(0, b.L - used(b, now))
    if remaining < ours then
      if p == nil then p = pending() end
      local pend = p[UNIT[i]]
      local units = math.max(0, b.L - remaining) + pend
      local x = units * b.e
      if rel(b, now) < x then set_tat(b, now, x) end
      if reset >= 0 then
        local empty_at = now + reset + ceil_div(pend * b.P, b.L)
        if b.T < empty_at then
          b.T = empty_at
          b.f = 0
        end
      end
      touch(st)
    end
  end
end
save(st)
return fmt(now)
