package redisbudget_test

import (
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/ghaudit/auditlog/redisbudget"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
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

// TestReadmeFleetSnippet: the snippet's Client keeps its budget in Redis
// under the snippet's key: what another process of the fleet learns from
// GitHub is what this Client reports, before it sends anything.
func TestReadmeFleetSnippet(t *testing.T) {
	rdb := redisbudget.SharedRedisClient(t)
	c, err := readmeFleet(rdb, auditlogtest.DefaultToken)
	require.NoError(t, err)
	key := auditlog.BudgetKey(auditlog.Enterprise("readme-fleet-snippet"))
	_, ok := c.Rate(key)
	require.False(t, ok, "nothing is known of the budget yet")

	other, err := redisbudget.New(rdb, "ghaudit:svc-audit-exporter")
	require.NoError(t, err)
	now := time.Now()
	tk, _, err := other.Reserve(key, now, time.Minute)
	require.NoError(t, err)
	other.Observe(key, tk, now, auditlog.Rate{Limit: 1750, Remaining: 1234, Used: 516, Reset: now.Add(time.Hour), Resource: auditlog.ResourceAuditLog})

	r, ok := c.Rate(key)
	require.True(t, ok, "the snippet's Client reads the fleet's budget")
	assert.Equal(t, 1750, r.Limit)
	assert.Equal(t, 1234, r.Remaining)
}
