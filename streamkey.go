package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
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
func (c *Client) StreamKey(ctx context.Context, enterprise string) (StreamKey, error) {
	if err := validateEnterprise(enterprise); err != nil {
		return StreamKey{}, err
	}
	k, err := c.keys.get(ctx, enterprise, keyFresh, "", c.fetchStreamKey)
	if err != nil {
		return StreamKey{}, err
	}
	return k.StreamKey, nil
}

// fetchStreamKey is the one request behind the key cache.
func (c *Client) fetchStreamKey(ctx context.Context, enterprise string) (parsedKey, error) {
	path, err := enterprisePath(enterprise, "audit-log", "stream-key")
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

// keyMode says what the cache may answer with.
type keyMode int

const (
	keyCached  keyMode = iota // any cached key; fetch only when there is none
	keyFresh                  // a key fetched now (or by a fetch already in flight)
	keyReplace                // a key other than the stale one; fetch unless another caller already did
)

// keyCache holds one stream key per enterprise for a Client. Its zero value
// is ready; it is safe for concurrent use, and concurrent callers that need
// a fetch for the same enterprise share one request.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]*keyEntry
}

type keyEntry struct {
	key    parsedKey
	have   bool
	flight *keyFlight // the fetch in progress, nil when none
}

// keyFlight is one fetch that several callers may wait for.
type keyFlight struct {
	done chan struct{}
	key  parsedKey
	err  error
}

// get returns the enterprise's key according to mode. For keyReplace, stale
// is the key_id GitHub refused: a cached key with another ID is returned
// without fetching, as another caller has already replaced it.
func (kc *keyCache) get(ctx context.Context, enterprise string, mode keyMode, stale string,
	fetch func(context.Context, string) (parsedKey, error)) (parsedKey, error) {
	for {
		kc.mu.Lock()
		if kc.entries == nil {
			kc.entries = make(map[string]*keyEntry)
		}
		e := kc.entries[enterprise]
		if e == nil {
			e = &keyEntry{}
			kc.entries[enterprise] = e
		}
		if e.have && (mode == keyCached || (mode == keyReplace && e.key.KeyID != stale)) {
			k := e.key
			kc.mu.Unlock()
			return k, nil
		}
		if f := e.flight; f != nil {
			kc.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return parsedKey{}, ctx.Err()
			}
			// The fetch of another caller that gave up is no answer for
			// this one: try again.
			if f.err != nil && ctx.Err() == nil &&
				(errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				continue
			}
			return f.key, f.err
		}
		f := &keyFlight{done: make(chan struct{})}
		e.flight = f
		kc.mu.Unlock()

		f.key, f.err = fetch(ctx, enterprise)

		kc.mu.Lock()
		e.flight = nil
		if f.err == nil {
			e.key, e.have = f.key, true
		}
		kc.mu.Unlock()
		close(f.done)
		return f.key, f.err
	}
}
