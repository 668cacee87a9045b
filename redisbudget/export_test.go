package redisbudget

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// SharedRedisClient gives the external test package (the README's
// snippet) a client of the tests' shared redis-server.
func SharedRedisClient(t *testing.T) *redis.Client { return sharedRedis(t).Client(t, "") }
