-- observe: ARGV = remaining requests, reset of requests (us), remaining tokens, reset of
-- tokens (us); -1 when absent; then the quota string (optional). Tightens RPD from the request
-- headers and TPM from the token headers, exactly as QuotaState::observe: nothing is ever
-- loosened.
local now = now_us()
local st = load_state()
expire(st, now)
sync_quota(st, now, 5)
local p = nil
local sides = { { 2, tonumber(ARGV[1]), tonumber(ARGV[2]) },
  { 3, tonumber(ARGV[3]), tonumber(ARGV[4]) } }
for _, side in ipairs(sides) do
  local i, remaining, reset = side[1], side[2], side[3]
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
