package redisbudget

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// fleetParallel is how many parallel tests (the fleet tests) run at once
// when -test.parallel is not given. They spend their time waiting for the
// fake's windows, not on a core: held to GOMAXPROCS (go test's default),
// they ran two at a time, a minute in all; together they take the longest
// one's time.
const fleetParallel = 8

func TestMain(m *testing.M) {
	if runChild() {
		return // not reached: a child exits
	}
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(fleetParallel)); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	stopSharedRedis()
	os.Exit(code)
}
