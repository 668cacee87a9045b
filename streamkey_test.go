package auditlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyNamed is a fetched key with only an ID, enough for the cache.
func keyNamed(id string) parsedKey { return parsedKey{StreamKey: StreamKey{KeyID: id}} }

func TestKeyCacheSharesOneFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		kc := keyCache{ttl: time.Hour}
		var calls atomic.Int32
		release := make(chan struct{})
		fetch := func(_ context.Context, ent string) (parsedKey, error) {
			calls.Add(1)
			<-release
			return keyNamed(ent + "-1"), nil
		}
		var wg sync.WaitGroup
		got := make([]string, 10)
		for i := range got {
			wg.Go(func() {
				mode := keyCached
				if i%2 == 1 {
					mode = keyFresh // explicit StreamKey calls join the fetch in flight too
				}
				k, err := kc.get(context.Background(), "acme", mode, StreamKey{}, fetch)
				assert.NoError(t, err)
				got[i] = k.KeyID
			})
		}
		synctest.Wait() // every caller waits on the one fetch
		close(release)
		wg.Wait()
		assert.EqualValues(t, 1, calls.Load(), "callers share one fetch")
		for _, id := range got {
			assert.Equal(t, "acme-1", id)
		}

		// Kept: no fetch. Another enterprise: its own fetch.
		calls.Store(0)
		_, err := kc.get(context.Background(), "acme", keyCached, StreamKey{}, fetch)
		require.NoError(t, err)
		k, err := kc.get(context.Background(), "other", keyCached, StreamKey{}, fetch)
		require.NoError(t, err)
		assert.Equal(t, "other-1", k.KeyID)
		assert.EqualValues(t, 1, calls.Load())
	})
}

func TestKeyCacheReplace(t *testing.T) {
	t.Parallel()
	kc := keyCache{ttl: time.Hour}
	n := 0
	fetch := func(context.Context, string) (parsedKey, error) {
		n++
		return keyNamed(string(rune('0' + n))), nil
	}
	ctx := context.Background()
	k, _ := kc.get(ctx, "acme", keyCached, StreamKey{}, fetch)
	assert.Equal(t, "1", k.KeyID)
	k, _ = kc.get(ctx, "acme", keyReplace, StreamKey{KeyID: "1"}, fetch)
	assert.Equal(t, "2", k.KeyID, "the refused key is fetched again")
	k, _ = kc.get(ctx, "acme", keyReplace, StreamKey{KeyID: "1"}, fetch)
	assert.Equal(t, "2", k.KeyID, "another caller already replaced the refused key: no fetch")
	assert.Equal(t, 2, n)
}

// TestKeyCacheTTL: a kept key expires after the TTL; a TTL of 0 keeps none.
func TestKeyCacheTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := 0
		fetch := func(context.Context, string) (parsedKey, error) { n++; return keyNamed("k"), nil }
		ctx := context.Background()
		kc := keyCache{ttl: time.Hour}
		for range 3 {
			_, err := kc.get(ctx, "acme", keyCached, StreamKey{}, fetch)
			require.NoError(t, err)
		}
		assert.Equal(t, 1, n)
		time.Sleep(time.Hour - time.Second)
		_, _ = kc.get(ctx, "acme", keyCached, StreamKey{}, fetch)
		assert.Equal(t, 1, n, "still fresh")
		time.Sleep(time.Second)
		_, _ = kc.get(ctx, "acme", keyCached, StreamKey{}, fetch)
		assert.Equal(t, 2, n, "expired after the TTL")

		none := keyCache{}
		_, _ = none.get(ctx, "acme", keyCached, StreamKey{}, fetch)
		_, _ = none.get(ctx, "acme", keyCached, StreamKey{}, fetch)
		assert.Equal(t, 4, n, "TTL 0: every call fetches")
	})
}

func TestKeyCacheErrors(t *testing.T) {
	t.Parallel()
	kc := keyCache{ttl: time.Hour}
	boom := errors.New("401")
	fetch := func(context.Context, string) (parsedKey, error) { return parsedKey{}, boom }
	_, err := kc.get(context.Background(), "acme", keyCached, StreamKey{}, fetch)
	assert.ErrorIs(t, err, boom)

	// A failure is not kept: the next call fetches again.
	ok := func(context.Context, string) (parsedKey, error) { return keyNamed("1"), nil }
	k, err := kc.get(context.Background(), "acme", keyCached, StreamKey{}, ok)
	require.NoError(t, err)
	assert.Equal(t, "1", k.KeyID)

	synctest.Test(t, func(t *testing.T) {
		kc := keyCache{ttl: time.Hour}
		// A waiter whose own context ends stops waiting.
		block := make(chan struct{})
		slow := func(ctx context.Context, _ string) (parsedKey, error) {
			select {
			case <-block:
				return keyNamed("slow"), nil
			case <-ctx.Done():
				return parsedKey{}, ctx.Err()
			}
		}
		first, cancelFirst := context.WithCancel(context.Background())
		var firstErr error
		done := make(chan struct{})
		go func() {
			_, firstErr = kc.get(first, "slow", keyCached, StreamKey{}, slow)
			close(done)
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = kc.get(ctx, "slow", keyCached, StreamKey{}, slow)
		assert.ErrorIs(t, err, context.Canceled)

		// The caller whose context started the fetch gives up: a waiter
		// that has not is not handed its context error, but fetches anew.
		var got parsedKey
		var gotErr error
		waited := make(chan struct{})
		go func() {
			got, gotErr = kc.get(context.Background(), "slow", keyCached, StreamKey{}, slow)
			close(waited)
		}()
		synctest.Wait()
		cancelFirst()
		<-done
		assert.ErrorIs(t, firstErr, context.Canceled)
		synctest.Wait()
		close(block)
		<-waited
		require.NoError(t, gotErr)
		assert.Equal(t, "slow", got.KeyID)
	})
}

// TestKeyCachePanicReachesEveryCaller: a panic in a fetch (a TokenSource or
// RoundTripper of the caller's, say) reaches every caller waiting for that
// fetch, in its own goroutine, and leaves no one blocked: the next call
// fetches again.
func TestKeyCachePanicReachesEveryCaller(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		kc := keyCache{ttl: time.Hour}
		release := make(chan struct{})
		bad := func(context.Context, string) (parsedKey, error) {
			<-release
			panic("transport bug")
		}
		var wg sync.WaitGroup
		recovered := make([]any, 3)
		for i := range recovered {
			wg.Go(func() {
				defer func() { recovered[i] = recover() }()
				_, _ = kc.get(context.Background(), "acme", keyCached, StreamKey{}, bad)
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait() // synctest reports a deadlock if any caller is left waiting
		for i, r := range recovered {
			require.NotNil(t, r, "caller %d", i)
			assert.Contains(t, r.(error).Error(), "transport bug")
		}
		k, err := kc.get(context.Background(), "acme", keyCached, StreamKey{},
			func(context.Context, string) (parsedKey, error) { return keyNamed("2"), nil })
		require.NoError(t, err)
		assert.Equal(t, "2", k.KeyID)
	})
}
