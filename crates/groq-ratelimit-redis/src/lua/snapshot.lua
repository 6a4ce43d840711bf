-- snapshot: the state now. Returns now, in flight, cap (-1: none), penalty end (0: none), the
-- dimension it names, pending requests, pending tokens, then per limited dimension: index, L,
-- P (us), used, remaining, reset (us).
local now = now_us()
expire(now)
if #ARGV >= 1 + 15 then sync_quota(now, 1) end
local preq, ptok = pending()
local out = { fmt(now), fmt(redis.call('ZCARD', LEASES)), redis.call('HGET', S, 'cap') or '-1',
  redis.call('HGET', S, 'pen') or '0', redis.call('HGET', S, 'pend') or '', fmt(preq), fmt(ptok) }
for i = 1, 4 do
  local b = load(i)
  if b then
    local u = used(b, now)
    for _, v in ipairs({ i, b.L, b.P, u, math.max(0, b.L - u), ceil_div(level(b, now), b.k) }) do
      out[#out + 1] = fmt(v)
    end
  end
end
return out
