-- renew: ARGV = lease (us), then the ids of leases this process still holds: each expires
-- a lease from now (never earlier than it already does).
local now = now_us()
local lease = tonumber(ARGV[1])
for j = 2, #ARGV do
  redis.call('ZADD', LEASES, 'XX', 'GT', fmt(now + lease), ARGV[j])
end
return fmt(now)
