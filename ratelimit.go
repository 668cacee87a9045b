package auditlog

import (
	"net/http"
	"strconv"
	"time"
)

// Rate is the rate-limit state GitHub reported with a response, from the
// x-ratelimit-* headers. Counts are -1 when the header was absent.
type Rate struct {
	Limit     int       // x-ratelimit-limit: requests allowed per window
	Remaining int       // x-ratelimit-remaining: requests left in this window
	Used      int       // x-ratelimit-used: requests made in this window
	Reset     time.Time // x-ratelimit-reset: when the window ends
	Resource  string    // x-ratelimit-resource: the budget charged, e.g. "audit_log"
}

// Known reports whether the response carried rate-limit headers.
func (r Rate) Known() bool { return r.Limit >= 0 && r.Remaining >= 0 }

func parseRate(h http.Header) Rate {
	r := Rate{
		Limit:     headerInt(h, "X-Ratelimit-Limit"),
		Remaining: headerInt(h, "X-Ratelimit-Remaining"),
		Used:      headerInt(h, "X-Ratelimit-Used"),
		Resource:  h.Get("X-Ratelimit-Resource"),
	}
	if secs := headerInt(h, "X-Ratelimit-Reset"); secs >= 0 {
		r.Reset = time.Unix(int64(secs), 0)
	}
	return r
}

func headerInt(h http.Header, key string) int {
	v := h.Get(key)
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
