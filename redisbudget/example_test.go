package redisbudget_test

import (
	"log"
	"os"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/redisbudget"
	"github.com/redis/go-redis/v9"
)

// Every process that sends the same token joins the fleet with the same
// key; one Limiter per process serves all its Clients.
func ExampleNew() {
	opts, err := redis.ParseURL(os.Getenv("GHAUDIT_REDIS_URL")) // e.g. redis://redis.internal:6379/0
	if err != nil {
		log.Fatal(err)
	}
	l, err := redisbudget.New(redis.NewClient(opts), "ghaudit:svc-audit-exporter",
		redisbudget.WithFallbackShare(1.0/4)) // four replicas: each paces on a quarter while Redis is away
	if err != nil {
		log.Fatal(err)
	}
	c, err := auditlog.NewClient(auditlog.WithToken(os.Getenv("GITHUB_TOKEN")), auditlog.WithLimiter(l))
	if err != nil {
		log.Fatal(err)
	}
	_ = c // walk, tail or backfill as usual: the budget is the fleet's
}
