-- renew: ARGV = lease (us), then the leases this process still holds (their members): each
-- expires a lease from now (never earlier than it already does). One ZADD per 500 leases.
local now = now_us()
local expiry = fmt(now + tonumber(ARGV[1]))
local args = {}
for j = 2, #ARGV do
  args[#args + 1] = expiry
  args[#args + 1] = ARGV[j]
  if #args >= 1000 or j == #ARGV then
    redis.call('ZADD', LEASES, 'XX', 'GT', unpack(args))
    args = {}
  end
end
return fmt(now)
