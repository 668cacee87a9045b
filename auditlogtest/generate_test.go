package auditlogtest

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGeneratorMatchesReference holds the direct JSON writer to the bytes
// the map-based generator produced for the same seed, so that switching
// writers changed no dataset, Example output or fixture.
func TestGeneratorMatchesReference(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 6, 8, 0, 0, 123_000_000, time.UTC)
	for _, tc := range []struct {
		n    int
		seed int64
	}{{0, 1}, {1, 1}, {500, 1}, {2000, 42}} {
		want := referenceEvents(tc.n, tc.seed, now, "avocado-corp", 13827)
		g := NewGenerator(tc.n, tc.seed)
		g.Until = now
		got, err := g.Events()
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, string(want[i]), string(got[i]), "seed %d event %d", tc.seed, i)
		}
		d, err := g.Dataset()
		require.NoError(t, err)
		require.Equal(t, tc.n, d.Len())
		for _, ev := range d.evs {
			// What the generator records is what parsing its JSON gives.
			p, err := parseEvent([]byte(ev.raw))
			require.NoError(t, err)
			require.Equal(t, *p, *ev)
		}
	}
}

// TestGeneratedDatasetsAreShared: servers started with the same generator
// and clock share one dataset; events added to one stay there.
func TestGeneratedDatasetsAreShared(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)
	clock := WithClock(func() time.Time { return now })
	a := NewServer(WithoutListener(), WithGeneratedEvents(2000, 77), clock)
	defer a.Close()
	b := NewServer(WithoutListener(), WithGeneratedEvents(2000, 77), clock)
	defer b.Close()
	c := NewServer(WithoutListener(), WithGeneratedEvents(2000, 78), clock)
	defer c.Close()
	require.Same(t, a.data, b.data)
	require.NotSame(t, a.data, c.data)
	require.Equal(t, &a.events[0], &b.events[0], "the same event slice")

	before := slices.Clone(b.events)
	require.NoError(t, a.AddEvents([]byte(`{"@timestamp":1717660000000,"_document_id":"extra"}`)))
	require.Len(t, a.events, 2001)
	require.Equal(t, before, b.events, "b's listing is untouched, element for element")
	require.Equal(t, before, a.data.evs, "the shared dataset is untouched, element for element")
	require.NoError(t, b.AddEvents([]byte(`{"@timestamp":1717660000000,"_document_id":"extra"}`)), "b has no such event")
}
