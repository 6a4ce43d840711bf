-- settle: ARGV = id, how ('c' commit, 'k' keep, 'r' refund), actual tokens, requests, tokens,
-- margin, then per dimension the mark of reserve (epoch -1: not charged).
local id = ARGV[1]
local how = ARGV[2]
local actual = tonumber(ARGV[3])
local req = tonumber(ARGV[4])
local tok = tonumber(ARGV[5])
local margin = tonumber(ARGV[6])
local now = now_us()
local held = redis.call('ZREM', LEASES, id)
redis.call('HDEL', COSTS, id)
local window = window_of(now, margin)
for i = 1, 4 do
  local o = 7 + (i - 1) * 6
  local mark = { ep = tonumber(ARGV[o]), Rw = tonumber(ARGV[o + 1]), Rf = tonumber(ARGV[o + 2]),
    T = tonumber(ARGV[o + 3]), f = tonumber(ARGV[o + 4]), w = tonumber(ARGV[o + 5]) }
  local b = load(i)
  if b and mark.ep >= 0 then
    local units = req
    if is_token(i) then units = tok end
    if held == 0 then
      -- The lease expired and the reservation was settled as kept: only usage above the
      -- estimate is still charged.
      if how == 'c' and is_token(i) and actual > tok then
        add(b, now, actual - tok)
        store(b)
      end
    elseif how == 'r' then
      if b.ep == mark.ep then
        refund_unsent(b, now, units, mark, window)
        store(b)
      end
    elseif how == 'c' then
      arrived(b, units, mark, window)
      if is_token(i) then
        if actual > tok then
          add(b, now, actual - tok)
        else
          refund_served(b, now, tok - actual, window)
        end
      end
      store(b)
    end
  end
end
return { fmt(now), fmt(held) }
