-- settle: ARGV = id, how ('c' commit, 'k' keep, 'r' refund), the actual units (requests,
-- tokens, input, output, audio), the charged units (the same five), margin, then per
-- dimension the mark of reserve (epoch -1: not charged).
local id = ARGV[1]
local how = ARGV[2]
local A, C = {}, {}
for j = 1, 5 do
  A[j] = tonumber(ARGV[2 + j])
  C[j] = tonumber(ARGV[7 + j])
end
local margin = tonumber(ARGV[13])
local now = now_us()
local held = redis.call('ZREM', LEASES, id .. ' ' .. table.concat(ARGV, ' ', 8, 12))
if how == 'k' then
  return { now, held }
end
local st = load_buckets()
local window = window_of(now, margin)
for i = 1, NDIMS do
  local o = 14 + (i - 1) * 6
  local ep = tonumber(ARGV[o])
  local b = st.b[i]
  if b and ep >= 0 then
    local mark = { ep = ep, Rw = tonumber(ARGV[o + 1]), Rf = tonumber(ARGV[o + 2]),
      T = tonumber(ARGV[o + 3]), f = tonumber(ARGV[o + 4]), w = tonumber(ARGV[o + 5]) }
    local units = C[UNIT[i]]
    local actual = A[UNIT[i]]
    if held == 0 then
      -- The lease expired and the reservation was settled as kept: only usage above the
      -- charge is still charged.
      if how == 'c' and not is_requests(i) and actual > units then
        add(b, now, actual - units)
        touch(st)
      end
    elseif how == 'r' then
      if b.ep == mark.ep then
        refund_unsent(b, now, units, mark, window)
        touch(st)
      end
    elseif how == 'c' then
      arrived(b, units, mark, window)
      if not is_requests(i) then
        if actual > units then
          add(b, now, actual - units)
        else
          refund_served(b, now, units - actual, window)
        end
      end
      touch(st)
    end
  end
end
save(st)
return { now, held }
