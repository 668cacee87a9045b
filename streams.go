package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"time"
)

// maxStreams bounds a stream list. GitHub allows a handful of streams per
// enterprise; a longer list is refused before the rest of it is decoded
// (readList, which also reads audit-log pages under their own cap).
const maxStreams = 100

// Stream is an audit-log stream configuration as GitHub returns it. GitHub
// never returns the vendor settings or secrets.
type Stream struct {
	ID            int64
	StreamType    StreamType // one of the StreamType constants; other values are kept as sent
	StreamDetails string     // what GitHub shows of the destination, e.g. a domain or bucket
	Enabled       bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	PausedAt      time.Time // zero when not paused (paused_at null or absent)
}

// UnmarshalJSON decodes GitHub's stream object. Like the event decoder it
// is lenient: a field of another type, or a time that is not ISO 8601, is
// left zero, and a stream_details that is not a string is kept as its JSON
// text. Only an id that is not an integer fails.
func (s *Stream) UnmarshalJSON(b []byte) error {
	var id struct {
		ID int64 `json:"id"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &id); err != nil {
		return err
	}
	_ = json.Unmarshal(b, &raw) // an object, or the line above failed
	out := Stream{ID: id.ID}
	_ = json.Unmarshal(raw["stream_type"], &out.StreamType)
	_ = json.Unmarshal(raw["enabled"], &out.Enabled)
	if d := raw["stream_details"]; len(d) > 0 && string(d) != "null" && json.Unmarshal(d, &out.StreamDetails) != nil {
		out.StreamDetails = string(d)
	}
	for name, t := range map[string]*time.Time{"created_at": &out.CreatedAt, "updated_at": &out.UpdatedAt, "paused_at": &out.PausedAt} {
		var text string
		if json.Unmarshal(raw[name], &text) == nil {
			*t, _ = time.Parse(time.RFC3339, text)
		}
	}
	*s = out
	return nil
}

// StreamConfig is what [Client.CreateStream] and [Client.UpdateStream] send:
// whether the stream runs and where to. GitHub replaces the whole
// configuration on update, so an update needs every setting and secret.
//
// Its JSON is GitHub's request body before sealing: "enabled",
// "stream_type" and "vendor_specific", secrets as "[REDACTED]" (refused
// when read back) and a key_id only for [Sealed].
type StreamConfig struct {
	// Enabled runs the stream; false creates or leaves it paused (GitHub
	// keeps up to 7 days of events for a paused stream).
	Enabled bool
	// Vendor is the destination: [AzureBlobStorage], [AzureEventHubs],
	// [AmazonS3OIDC], [AmazonS3AccessKeys], [Splunk], [HTTPSEventCollector],
	// [GoogleCloudStorage], [Datadog], or any of them wrapped in [Sealed].
	Vendor Vendor
}

// streamRequest is the body of POST and PUT .../audit-log/streams, and the
// JSON form of a StreamConfig.
type streamRequest struct {
	Enabled        bool            `json:"enabled"`
	StreamType     StreamType      `json:"stream_type"`
	VendorSpecific json.RawMessage `json:"vendor_specific"`
}

// MarshalJSON writes the configuration as GitHub's request body, with
// secrets redacted.
func (c StreamConfig) MarshalJSON() ([]byte, error) {
	req := streamRequest{Enabled: c.Enabled, VendorSpecific: json.RawMessage("null")}
	if v, keyID, err := unwrap(c.Vendor); err == nil {
		vs, _ := vendorSpecific(v, keyID, func(s Secret) (any, error) { return s, nil })
		req.StreamType = v.StreamType()
		req.VendorSpecific, _ = json.Marshal(vs)
	}
	return json.Marshal(req)
}

// UnmarshalJSON reads what MarshalJSON writes, with real secrets in place of
// "[REDACTED]", which is refused. A key_id makes the vendor [Sealed].
func (c *StreamConfig) UnmarshalJSON(b []byte) error {
	var req streamRequest
	var meta struct {
		Auth  string  `json:"authentication_type"`
		KeyID *string `json:"key_id"`
	}
	err := json.Unmarshal(b, &req)
	if err == nil {
		err = json.Unmarshal(req.VendorSpecific, &meta)
	}
	var p any
	if err == nil {
		p, err = newVendor(req.StreamType, meta.Auth)
	}
	if err == nil {
		err = json.Unmarshal(req.VendorSpecific, p)
	}
	if err != nil {
		return fmt.Errorf("auditlog: decoding StreamConfig: %w", err)
	}
	c.Enabled, c.Vendor = req.Enabled, reflect.ValueOf(p).Elem().Interface().(Vendor)
	if meta.KeyID != nil {
		c.Vendor = Sealed{KeyID: *meta.KeyID, Vendor: c.Vendor}
	}
	return nil
}

// streamPath validates the enterprise and stream ID and returns the path.
func streamPath(enterprise Enterprise, id int64) (string, error) {
	if id <= 0 {
		return "", &InputError{Field: "id", Reason: fmt.Sprintf("must be a positive stream ID, got %d", id)}
	}
	return enterprisePath(enterprise, "audit-log", "streams", strconv.FormatInt(id, 10))
}

// ListStreams lists the enterprise's audit-log stream configurations, at
// the cost of one request of the audit_log_streaming budget (15 an hour).
// A list of more than 100 streams is refused.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#list-audit-log-stream-configurations-for-an-enterprise
func (c *Client) ListStreams(ctx context.Context, enterprise Enterprise) ([]Stream, error) {
	path, err := enterprisePath(enterprise, "audit-log", "streams")
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, resource: ResourceAuditLogStreaming})
	if err != nil {
		return nil, err
	}
	streams, err := decodeStreams(resp.body)
	if err != nil {
		return nil, fmt.Errorf("auditlog: decoding streams (request %s): %w", resp.requestID, err)
	}
	return streams, nil
}

// errTooManyStreams refuses a stream list past maxStreams.
var errTooManyStreams = fmt.Errorf("more than %d streams", maxStreams)

// decodeStreams decodes a JSON array (or null) of streams one at a time,
// refusing the first past maxStreams before reading it.
func decodeStreams(body string) ([]Stream, error) {
	streams := []Stream{}
	err := readList(body, maxStreams, errTooManyStreams, func(i int) (int, error) {
		j, err := skipValue(body, i, 0)
		if err != nil {
			return j, err
		}
		var st Stream
		if err := json.Unmarshal([]byte(body[i:j]), &st); err != nil {
			return i, err
		}
		streams = append(streams, st)
		return j, nil
	})
	if err != nil {
		return nil, err
	}
	return streams, nil
}

// GetStream fetches one audit-log stream configuration by ID.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#list-one-audit-log-streaming-configuration-via-a-stream-id
func (c *Client) GetStream(ctx context.Context, enterprise Enterprise, id int64) (*Stream, error) {
	path, err := streamPath(enterprise, id)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, resource: ResourceAuditLogStreaming})
	if err != nil {
		return nil, err
	}
	return decodeStream(resp)
}

// CreateStream creates an audit-log stream. The configuration is validated
// before anything is sent (a secret that is "[REDACTED]" is refused). The
// vendor's secrets are sealed with the enterprise's stream key, which the
// client fetches and keeps ([WithStreamKeyTTL]), so N creates cost N+1
// requests of the audit_log_streaming budget (15 an hour).
//
// GitHub does not document how it words the refusal of a stale key, so
// after any 422 the client fetches the key once more: if it has changed,
// the client re-seals and retries once (the refused request created
// nothing), else it returns the 422. A [Sealed] vendor is never retried.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#create-an-audit-log-streaming-configuration-for-an-enterprise
func (c *Client) CreateStream(ctx context.Context, enterprise Enterprise, cfg StreamConfig) (*Stream, error) {
	path, err := enterprisePath(enterprise, "audit-log", "streams")
	if err != nil {
		return nil, err
	}
	return c.writeStream(ctx, http.MethodPost, path, enterprise, cfg)
}

// UpdateStream replaces the configuration of stream id. GitHub has no
// partial update: cfg must carry every setting and secret, as for
// [Client.CreateStream], and is sealed and retried the same way.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration
func (c *Client) UpdateStream(ctx context.Context, enterprise Enterprise, id int64, cfg StreamConfig) (*Stream, error) {
	path, err := streamPath(enterprise, id)
	if err != nil {
		return nil, err
	}
	return c.writeStream(ctx, http.MethodPut, path, enterprise, cfg)
}

// PauseStream pauses stream id: an [Client.UpdateStream] with Enabled false,
// so it needs the vendor settings and secrets again (GitHub never returns
// them). GitHub keeps up to 7 days of events for a paused stream.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration
func (c *Client) PauseStream(ctx context.Context, enterprise Enterprise, id int64, vendor Vendor) (*Stream, error) {
	return c.UpdateStream(ctx, enterprise, id, StreamConfig{Enabled: false, Vendor: vendor})
}

// ResumeStream resumes stream id: an [Client.UpdateStream] with Enabled
// true, which needs the full vendor settings as [Client.PauseStream] does.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration
func (c *Client) ResumeStream(ctx context.Context, enterprise Enterprise, id int64, vendor Vendor) (*Stream, error) {
	return c.UpdateStream(ctx, enterprise, id, StreamConfig{Enabled: true, Vendor: vendor})
}

// DeleteStream deletes stream id. A retry that finds the stream gone, after
// a failure that may have reached GitHub (a 502, say), means an earlier
// attempt deleted it: DeleteStream returns nil.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#delete-an-audit-log-streaming-configuration-for-an-enterprise
func (c *Client) DeleteStream(ctx context.Context, enterprise Enterprise, id int64) error {
	path, err := streamPath(enterprise, id)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &call{method: http.MethodDelete, path: path, resource: ResourceAuditLogStreaming})
	return err
}

// writeStream validates, seals and sends a create or update; after a 422 it
// re-seals and retries once if GitHub's key has changed.
func (c *Client) writeStream(ctx context.Context, method, path string, enterprise Enterprise, cfg StreamConfig) (*Stream, error) {
	v, keyID, err := unwrap(cfg.Vendor)
	sealed := keyID != ""
	if err == nil {
		err = validate(v, sealed)
	}
	if err != nil {
		return nil, err
	}
	send := func(key parsedKey) (*Stream, error) {
		var plain []string
		vs, err := vendorSpecific(v, key.KeyID, func(s Secret) (any, error) {
			if sealed {
				return s.reveal(), nil // a ciphertext already
			}
			plain = append(plain, s.reveal())
			return seal(key.pub, []byte(s.reveal()))
		})
		if err != nil {
			return nil, err
		}
		body, _ := json.Marshal(vs) // strings, ints and bools
		resp, err := c.do(ctx, &call{method: method, path: path, resource: ResourceAuditLogStreaming,
			body: streamRequest{Enabled: cfg.Enabled, StreamType: v.StreamType(), VendorSpecific: body}, secrets: plain})
		if err != nil {
			return nil, err // the pipeline scrubbed plain from it
		}
		return decodeStream(resp)
	}
	if sealed {
		return send(parsedKey{StreamKey: StreamKey{KeyID: keyID}})
	}
	key, err := c.keys.get(ctx, string(enterprise), keyCached, StreamKey{}, c.fetchStreamKey)
	if err != nil {
		return nil, err
	}
	st, err := send(key)
	if !errors.Is(err, ErrValidation) {
		return st, err
	}
	fresh, kerr := c.keys.get(ctx, string(enterprise), keyReplace, key.StreamKey, c.fetchStreamKey)
	switch {
	case kerr != nil:
		return nil, fmt.Errorf("%w; fetching the stream key again failed: %w", err, kerr)
	case fresh.StreamKey == key.StreamKey:
		return nil, err // not a rotation: the same key would be refused again
	}
	return send(fresh)
}

func decodeStream(resp *response) (*Stream, error) {
	var st Stream
	if err := json.Unmarshal([]byte(resp.body), &st); err != nil {
		return nil, fmt.Errorf("auditlog: decoding stream (request %s): %w", resp.requestID, err)
	}
	return &st, nil
}
