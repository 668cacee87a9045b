package auditlogtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

// A user's test fetches one page of the audit log with plain net/http.
func Example() {
	srv := auditlogtest.NewServer(
		auditlogtest.WithEvents(
			json.RawMessage(`{"@timestamp":1717660800000,"_document_id":"doc-1","action":"repo.create","actor":"octocat"}`),
			json.RawMessage(`{"@timestamp":1717664400000,"_document_id":"doc-2","action":"team.add_member","actor":"hubot"}`),
			json.RawMessage(`{"@timestamp":1717668000000,"_document_id":"doc-3","action":"repo.destroy","actor":"octocat"}`),
		),
		auditlogtest.WithClock(func() time.Time { return time.Date(2024, 6, 6, 12, 0, 0, 0, time.UTC) }),
	)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/enterprises/"+srv.Enterprise()+"/audit-log?phrase=action:repo&per_page=1", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var events []struct {
		ID     string `json:"_document_id"`
		Action string `json:"action"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	for _, e := range events {
		fmt.Println(e.ID, e.Action)
	}
	fmt.Println("has next page:", strings.Contains(resp.Header.Get("Link"), `rel="next"`))
	// Output:
	// 200 1749
	// doc-3 repo.destroy
	// has next page: true
}

// Aim a fault at one request: the third audit-log page of a walk answers
// 502 once. The SDK's error carries the request ID the fake logged.
func ExampleServer_Inject() {
	srv := auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(300, 1))
	defer srv.Close()
	err := srv.Inject(auditlogtest.Rule{
		Match: auditlogtest.Match{Method: http.MethodGet, Path: auditlogtest.PathAuditLog},
		Nth:   3,
		Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: http.StatusBadGateway},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
		auditlog.WithHTTPClient(srv.Client()), auditlog.WithMaxAttempts(1)) // no retry, to see the fault
	if err != nil {
		fmt.Println(err)
		return
	}
	pages := 0
	for _, err := range c.Pages(context.Background(), auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{PerPage: 100}) {
		var apiErr *auditlog.APIError
		if errors.As(err, &apiErr) {
			reqs := srv.Requests() // the SDK's warm start (GET /rate_limit), then the pages
			logged := reqs[len(reqs)-1]
			fmt.Println("page", pages+1, "failed:", apiErr.StatusCode, "logged as", logged.Status, logged.Fault)
			fmt.Println("same request ID:", apiErr.RequestID == logged.RequestID)
			break
		}
		pages++
	}
	fmt.Println("pages:", srv.Count(auditlogtest.Match{Path: auditlogtest.PathAuditLog}), "faults left:", len(srv.PendingFaults()))
	// Output:
	// page 3 failed: 502 logged as 502 server_error
	// same request ID: true
	// pages: 3 faults left: 0
}

// A tail test: an event that happened two minutes ago reaches the log only
// two minutes from now, behind newer events. The SDK's Follow catches it
// with the sweep that re-reads what its look-back window has just closed. The fake's time is a Clock the
// example advances; with the in-memory transport, each poll takes a few
// milliseconds of real time.
func ExampleServer_AddEventsAt() {
	clk := auditlogtest.NewClock(time.Date(2024, 6, 6, 12, 0, 0, 0, time.UTC))
	t0 := clk.Now()
	ev := func(id string, ago time.Duration) json.RawMessage {
		return auditlogtest.Event{ID: id, Time: t0.Add(-ago), Action: "repo.create", Actor: "octocat"}.JSON()
	}
	srv := auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now),
		auditlogtest.WithEvents(ev("early", 3*time.Minute), ev("newer", time.Minute)))
	defer srv.Close()
	if err := srv.AddEventsAt(t0.Add(2*time.Minute), ev("late", 2*time.Minute)); err != nil {
		fmt.Println(err)
		return
	}

	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
		auditlog.WithHTTPClient(srv.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := c.Follow(auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{}, auditlog.FollowOptions{
		Since: t0.Add(-time.Hour), Every: 10 * time.Millisecond, LookBack: 5 * time.Minute})
	n := 0
	for e, err := range f.Events(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s (fake time +%s)\n", e.DocumentID, clk.Now().Sub(t0))
		if n++; n == 2 {
			clk.Advance(5 * time.Minute) // the late event is listed from now on
		}
		if n == 3 {
			break
		}
	}
	// Output:
	// early (fake time +0s)
	// newer (fake time +0s)
	// late (fake time +5m0s)
}

// Build events in GitHub's shape: epoch-millisecond timestamps, a
// 22-character _document_id, org as an array when there are several.
func ExampleEvent() {
	ev := auditlogtest.Event{
		Time:   time.Date(2024, 6, 6, 12, 0, 0, 0, time.UTC),
		Action: "oauth_authorization.create",
		Actor:  "octocat",
		Org:    []string{"avocado-org", "guacamole-inc"},
		OrgID:  []int64{62012, 71733},
		Fields: map[string]any{"user_agent": `curl/8.5.0 "probe" <x> & y`, "actor_location": map[string]string{"country_code": "DE"}},
	}
	fmt.Println(string(ev.JSON()))
	// Output:
	// {"@timestamp":1717675200000,"_document_id":"SuXQAcZ-_ANsq_piU7QQNc","action":"oauth_authorization.create","actor":"octocat","actor_location":{"country_code":"DE"},"created_at":1717675200000,"org":["avocado-org","guacamole-inc"],"org_id":[62012,71733],"user_agent":"curl/8.5.0 \"probe\" <x> & y"}
}

// A clock the test sets: the fake's rate-limit window resets when the test
// says so, without waiting an hour.
func ExampleClock() {
	clk := auditlogtest.NewClock(time.Date(2024, 6, 6, 12, 0, 0, 0, time.UTC))
	srv := auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 2, time.Hour))
	defer srv.Close()
	get := func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/enterprises/"+srv.Enterprise()+"/audit-log", nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, "remaining", resp.Header.Get("X-RateLimit-Remaining"), "at", resp.Header.Get("Date"))
	}
	get()
	get()
	get()
	clk.Advance(time.Hour)
	get()
	// Output:
	// 200 remaining 1 at Thu, 06 Jun 2024 12:00:00 GMT
	// 200 remaining 0 at Thu, 06 Jun 2024 12:00:00 GMT
	// 403 remaining 0 at Thu, 06 Jun 2024 12:00:00 GMT
	// 200 remaining 1 at Thu, 06 Jun 2024 13:00:00 GMT
}
