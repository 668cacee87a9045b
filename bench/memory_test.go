package bench

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/bench/internal/fakeproc"
)

// heapPeak tracks the largest heap seen at the sample points: the bytes
// of heap objects (live and not yet collected, what the process actually
// holds) and the live heap as of the last GC.
type heapPeak struct {
	samples  []metrics.Sample
	objects  uint64
	live     uint64
	baseline uint64
}

func newHeapPeak() *heapPeak {
	h := &heapPeak{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}}
	runtime.GC()
	metrics.Read(h.samples)
	h.baseline = h.samples[0].Value.Uint64()
	return h
}

func (h *heapPeak) sample() {
	metrics.Read(h.samples)
	h.objects = max(h.objects, h.samples[0].Value.Uint64())
	h.live = max(h.live, h.samples[1].Value.Uint64())
}

// BenchmarkWalkMemory walks -bench-events events (default 20,000; the
// published figure uses 1,000,000) from a fake in a child process, so the
// dataset is not in this heap, and reports the peak heap of the walk,
// sampled at every page. Memory must stay O(page) whatever the log's size.
func BenchmarkWalkMemory(b *testing.B) {
	n := *benchEvents
	p := outOfProcessFake(b, fakeproc.Config{Events: n, Seed: 1, Limit: 1 << 30, Window: time.Hour})
	c, gh := loopbackClients(b, p.URL, p.Token)
	ctx := context.Background()
	run := func(walk func(onPage func()) (int, error)) func(*testing.B) {
		return func(b *testing.B) {
			var peakObjects, peakLive, base uint64
			for b.Loop() {
				b.StopTimer()
				h := newHeapPeak()
				b.StartTimer()
				got, err := walk(h.sample)
				if err != nil || got != n {
					b.Fatalf("walked %d of %d events: %v", got, n, err)
				}
				peakObjects, peakLive, base = max(peakObjects, h.objects), max(peakLive, h.live), h.baseline
			}
			b.ReportMetric(float64(peakObjects)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-MiB")
			b.ReportMetric(float64(base)/(1<<20), "base-heap-MiB")
			b.ReportMetric(float64(n), "events")
		}
	}
	b.Run("sdk=auditlog", run(func(onPage func()) (int, error) {
		return walkAuditlog(ctx, c, p.Enterprise, onPage)
	}))
	b.Run("sdk=go-github", run(func(onPage func()) (int, error) {
		return walkGitHub(ctx, gh, p.Enterprise, onPage)
	}))
}
