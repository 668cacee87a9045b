package redisbudget

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if runChild() {
		return // not reached: a child exits
	}
	code := m.Run()
	stopSharedRedis()
	os.Exit(code)
}
