-- observe: ARGV = remaining requests, reset of requests (us), remaining tokens, reset of
-- tokens (us); -1 when absent. Tightens RPD from the request headers and TPM from the token
-- headers, exactly as QuotaState::observe: nothing is ever loosened.
local now = now_us()
expire(now)
if #ARGV >= 5 + 15 then sync_quota(now, 5) end
local preq, ptok = pending()
local sides = { { 2, tonumber(ARGV[1]), tonumber(ARGV[2]), preq },
  { 3, tonumber(ARGV[3]), tonumber(ARGV[4]), ptok } }
for _, side in ipairs(sides) do
  local b = load(side[1])
  local remaining, reset, pend = side[2], side[3], side[4]
  if b and remaining >= 0 then
    local ours = math.max(0, b.L - used(b, now))
    if remaining < ours then
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
      store(b)
    end
  end
end
return fmt(now)
