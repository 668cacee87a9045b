package main

import (
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/stretchr/testify/assert"
)

// TestBudgetText: the progress output shows the budget as the client knows
// it, and says so when it knows none or the server reports no limit.
func TestBudgetText(t *testing.T) {
	reset := time.Date(2026, 5, 1, 12, 30, 0, 0, time.Local)
	assert.Equal(t, "budget unknown", budget(auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}, false))
	assert.Equal(t, "no rate limit", budget(auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}, true))
	assert.Equal(t, "budget 1200/1750 (resets 12:30:00)", budget(auditlog.Rate{Limit: 1750, Remaining: 1200, Used: 550, Reset: reset}, true))
	assert.Equal(t, "budget 1750/1750", budget(auditlog.Rate{Limit: 1750, Remaining: 1750}, true))
}
