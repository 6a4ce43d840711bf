-- snapshot: ARGV = the quota string (optional). The state now. Returns now, in flight, cap (-1: none), penalty end (0: none), the
-- dimension it names, the pending units (requests, tokens, input, output, audio), then per
-- limited dimension: index, L, P (us), used, remaining, reset (us).
local now = now_us()
local st = load_state()
expire(st, now)
sync_quota(st, now, 1)
save(st)
local p = pending()
local out = { fmt(now), fmt(redis.call('ZCARD', LEASES)), st.cap or '-1', fmt(st.pen), st.pend }
for j = 1, 5 do out[#out + 1] = fmt(p[j]) end
for i = 1, NDIMS do
  local b = st.b[i]
  if b then
    local u = used(b, now)
    for _, v in ipairs({ i, b.L, b.P, u, math.max(0, b.L - u), ceil_div(level(b, now), b.k) }) do
      out[#out + 1] = fmt(v)
    end
  end
end
return out
