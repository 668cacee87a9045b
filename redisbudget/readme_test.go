package redisbudget_test

import (
	"testing"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/ghaudit/auditlog/redisbudget"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// readmeFleet is the README's "Running a fleet" snippet (the root package's
// TestReadmeSnippetsRunHere checks the README still shows this code).
func readmeFleet(rdb *redis.Client, tok string) (*auditlog.Client, error) {
	l, err := redisbudget.New(rdb, "ghaudit:svc-audit-exporter") // rdb: any go-redis v9 client
	if err != nil {
		return nil, err
	}
	c, err := auditlog.NewClient(auditlog.WithToken(tok), auditlog.WithLimiter(l))
	return c, err
}

func TestReadmeFleetSnippet(t *testing.T) {
	c, err := readmeFleet(redisbudget.SharedRedisClient(t), auditlogtest.DefaultToken)
	require.NoError(t, err)
	require.NotNil(t, c)
}
