package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// StreamKey is an enterprise's audit-log stream key: the public key that
// stream secrets are sealed with (see [Seal]) and the ID GitHub expects in
// the key_id field beside them.
type StreamKey struct {
	KeyID string `json:"key_id"`
	Key   string `json:"key"` // standard-base64 Curve25519 public key
}

// StreamKey fetches the enterprise's current audit-log stream key from
// GitHub. Every call costs one request on the audit_log_streaming budget
// (15 an hour); concurrent calls for the same enterprise share one request.
// The answer also refreshes the key the client keeps for
// [Client.CreateStream] and [Client.UpdateStream], which fetch it themselves
// on first use, so call StreamKey only to seal values for [Sealed].
//
// A key that is not a 32-byte standard-base64 public key is refused with an
// error naming its key_id.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#get-the-audit-log-stream-key-for-encrypting-secrets
func (c *Client) StreamKey(ctx context.Context, enterprise Enterprise) (StreamKey, error) {
	if _, err := enterprise.path(); err != nil {
		return StreamKey{}, err
	}
	k, err := c.keys.get(ctx, string(enterprise), keyFresh, StreamKey{}, c.fetchStreamKey)
	if err != nil {
		return StreamKey{}, err
	}
	return k.StreamKey, nil
}

// fetchStreamKey is the one request behind the key cache.
func (c *Client) fetchStreamKey(ctx context.Context, enterprise string) (parsedKey, error) {
	path, err := enterprisePath(Enterprise(enterprise), "audit-log", "stream-key")
	if err != nil {
		return parsedKey{}, err
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, resource: ResourceAuditLogStreaming})
	if err != nil {
		return parsedKey{}, err
	}
	var k StreamKey
	if err := json.Unmarshal([]byte(resp.body), &k); err != nil {
		return parsedKey{}, fmt.Errorf("auditlog: decoding stream key (request %s): %w", resp.requestID, err)
	}
	if k.KeyID == "" {
		return parsedKey{}, fmt.Errorf("auditlog: stream key of %s has no key_id (request %s)", enterprise, resp.requestID)
	}
	pub, err := parsePublicKey(k.Key)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			err = errors.New(ie.Reason)
		}
		return parsedKey{}, fmt.Errorf("auditlog: stream key %s of %s is unusable (request %s): %w",
			quoteValue(k.KeyID), enterprise, resp.requestID, err)
	}
	return parsedKey{StreamKey: k, pub: pub}, nil
}

// parsedKey is a stream key with its decoded public key.
type parsedKey struct {
	StreamKey
	pub *[PublicKeySize]byte
}

// DefaultStreamKeyTTL is how long a client keeps an enterprise's stream key
// unless [WithStreamKeyTTL] says otherwise.
const DefaultStreamKeyTTL = time.Hour

// WithStreamKeyTTL sets how long the client keeps an enterprise's stream key
// for [Client.CreateStream] and [Client.UpdateStream] before fetching it
// again; the default is [DefaultStreamKeyTTL]. 0 keeps no key: every create
// or update fetches it first, at the cost of one more request of the
// audit_log_streaming budget. Whatever the TTL, a 422 makes the client check
// the key once more (see [Client.CreateStream]).
func WithStreamKeyTTL(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return optionError("WithStreamKeyTTL", fmt.Sprintf("must not be negative, got %v", d))
		}
		s.streamKeyTTL = d
		return nil
	}
}

// ForgetStreamKey drops the stream key the client keeps for enterprise, so
// that the next create or update fetches it, for example after rotating
// the key in GitHub's settings.
func (c *Client) ForgetStreamKey(enterprise Enterprise) {
	c.keys.mu.Lock()
	delete(c.keys.keys, string(enterprise))
	c.keys.mu.Unlock()
}

// keyMode says what the cache may answer with.
type keyMode int

const (
	keyCached  keyMode = iota // a kept key that has not expired; fetch only when there is none
	keyFresh                  // a key fetched now (or by a fetch already in flight)
	keyReplace                // a key other than the stale one; fetch unless another caller already did
)

// keyCache holds one stream key per enterprise for a Client. It is safe for
// concurrent use; callers that need a fetch for the same enterprise share
// one request (singleflight), and a panic in a fetch reaches every one of
// them instead of leaving any waiting.
type keyCache struct {
	ttl   time.Duration
	group singleflight.Group
	mu    sync.Mutex
	keys  map[string]cachedKey
}

type cachedKey struct {
	parsedKey
	at time.Time
}

// fetchPanic carries a panic of a fetch to every caller waiting for it.
type fetchPanic struct {
	value any
	stack []byte
}

func (p *fetchPanic) Error() string {
	return fmt.Sprintf("auditlog: fetching the stream key panicked: %v\n\n%s", p.value, p.stack)
}

// get returns the enterprise's key according to mode. For keyReplace, stale
// is the key GitHub refused: a kept key that differs is returned without
// fetching, as another caller has already replaced it.
func (kc *keyCache) get(ctx context.Context, enterprise string, mode keyMode, stale StreamKey,
	fetch func(context.Context, string) (parsedKey, error)) (parsedKey, error) {
	if ctx == nil {
		return parsedKey{}, &InputError{Field: "ctx", Reason: "context is nil"}
	}
	for try := 1; ; try++ {
		kc.mu.Lock()
		k, ok := kc.keys[enterprise]
		kc.mu.Unlock()
		if ok && time.Since(k.at) < kc.ttl && (mode == keyCached || (mode == keyReplace && k.StreamKey != stale)) {
			return k.parsedKey, nil
		}
		// The fetch runs in its own goroutine with the context of the
		// caller that started it; each caller waits with its own.
		ch := kc.group.DoChan(enterprise, func() (_ any, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &fetchPanic{value: r, stack: debug.Stack()}
				}
			}()
			k, err := fetch(ctx, enterprise)
			if err == nil {
				kc.mu.Lock()
				if kc.keys == nil {
					kc.keys = make(map[string]cachedKey)
				}
				kc.keys[enterprise] = cachedKey{k, time.Now()}
				kc.mu.Unlock()
			}
			return k, err
		})
		var r singleflight.Result
		select {
		case r = <-ch:
		case <-ctx.Done():
			return parsedKey{}, ctx.Err()
		}
		var p *fetchPanic
		if errors.As(r.Err, &p) {
			panic(p)
		}
		// The fetch of another caller that gave up is no answer for this
		// one: try once more.
		if try == 1 && ctx.Err() == nil && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
			continue
		}
		key, _ := r.Val.(parsedKey)
		return key, r.Err
	}
}
