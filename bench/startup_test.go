package bench

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/ghaudit/auditlog/auditlogtest"
)

// liveMiB returns the live heap that start's server holds while it runs:
// the live heap after a GC with the server up, less the one before.
func liveMiB(start func() *auditlogtest.Server) float64 {
	live := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := live()
	srv := start()
	after := live()
	srv.Close()
	return float64(after-min(before, after)) / (1 << 20)
}

// BenchmarkFakeStartup measures starting an auditlogtest fake over a
// generated log of 10,000 and 100,000 events. cold: the dataset is
// generated, sorted and indexed, as for the first fake of a suite (a new
// seed each time, so nothing is shared). shared: a fake over a Dataset
// built once (WithDataset), as for every further fake. live-MiB is the heap
// a started fake holds (for shared, beyond the dataset it shares).
func BenchmarkFakeStartup(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("events=%d/dataset=cold", n), func(b *testing.B) {
			seed := int64(0)
			start := func() *auditlogtest.Server {
				seed++
				return auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(n, seed))
			}
			live := liveMiB(start)
			b.ReportAllocs()
			for b.Loop() {
				start().Close()
			}
			b.ReportMetric(live, "live-MiB")
		})
		b.Run(fmt.Sprintf("events=%d/dataset=shared", n), func(b *testing.B) {
			ds, err := auditlogtest.NewGenerator(n, 1).Dataset()
			if err != nil {
				b.Fatal(err)
			}
			start := func() *auditlogtest.Server {
				return auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithDataset(ds))
			}
			live := liveMiB(start)
			b.ReportAllocs()
			for b.Loop() {
				start().Close()
			}
			b.ReportMetric(live, "live-MiB")
		})
	}
}
