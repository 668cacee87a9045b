package auditlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyCacheSharesOneFetch(t *testing.T) {
	t.Parallel()
	var kc keyCache
	var calls atomic.Int32
	release := make(chan struct{})
	fetch := func(_ context.Context, ent string) (parsedKey, error) {
		calls.Add(1)
		<-release
		return parsedKey{StreamKey: StreamKey{KeyID: ent + "-1"}}, nil
	}
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Go(func() {
			mode := keyCached
			if i%2 == 1 {
				mode = keyFresh // explicit StreamKey calls join the fetch in flight too
			}
			k, err := kc.get(context.Background(), "acme", mode, "", fetch)
			assert.NoError(t, err)
			got[i] = k.KeyID
		})
	}
	time.Sleep(20 * time.Millisecond) // let the callers pile up on the flight
	close(release)
	wg.Wait()
	assert.LessOrEqual(t, calls.Load(), int32(2), "callers share fetches")
	for _, id := range got {
		assert.Equal(t, "acme-1", id)
	}

	// Cached: no fetch. Another enterprise: its own fetch.
	calls.Store(0)
	_, err := kc.get(context.Background(), "acme", keyCached, "", fetch)
	require.NoError(t, err)
	k, err := kc.get(context.Background(), "other", keyCached, "", fetch)
	require.NoError(t, err)
	assert.Equal(t, "other-1", k.KeyID)
	assert.EqualValues(t, 1, calls.Load())
}

func TestKeyCacheReplace(t *testing.T) {
	t.Parallel()
	var kc keyCache
	n := 0
	fetch := func(context.Context, string) (parsedKey, error) {
		n++
		return parsedKey{StreamKey: StreamKey{KeyID: string(rune('0' + n))}}, nil
	}
	ctx := context.Background()
	k, _ := kc.get(ctx, "acme", keyCached, "", fetch)
	assert.Equal(t, "1", k.KeyID)
	k, _ = kc.get(ctx, "acme", keyReplace, "1", fetch)
	assert.Equal(t, "2", k.KeyID, "the refused key is fetched again")
	k, _ = kc.get(ctx, "acme", keyReplace, "1", fetch)
	assert.Equal(t, "2", k.KeyID, "another caller already replaced the refused key: no fetch")
	assert.Equal(t, 2, n)
}

func TestKeyCacheErrors(t *testing.T) {
	t.Parallel()
	var kc keyCache
	boom := errors.New("401")
	fetch := func(context.Context, string) (parsedKey, error) { return parsedKey{}, boom }
	_, err := kc.get(context.Background(), "acme", keyCached, "", fetch)
	assert.ErrorIs(t, err, boom)

	// A failure is not cached: the next call fetches again.
	ok := func(context.Context, string) (parsedKey, error) {
		return parsedKey{StreamKey: StreamKey{KeyID: "1"}}, nil
	}
	k, err := kc.get(context.Background(), "acme", keyCached, "", ok)
	require.NoError(t, err)
	assert.Equal(t, "1", k.KeyID)

	// A waiter whose own context ends stops waiting.
	block := make(chan struct{})
	defer close(block)
	slow := func(ctx context.Context, _ string) (parsedKey, error) {
		select {
		case <-block:
			return parsedKey{}, nil
		case <-ctx.Done():
			return parsedKey{}, ctx.Err()
		}
	}
	go func() { _, _ = kc.get(context.Background(), "slow", keyCached, "", slow) }()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = kc.get(ctx, "slow", keyCached, "", slow)
	assert.ErrorIs(t, err, context.Canceled)
}
